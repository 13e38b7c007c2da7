"""The guides' website for new employees, built with mkdocs-material from the same markdown the index
reads (`build`), with kb's own build hooks (`hooks`)."""
