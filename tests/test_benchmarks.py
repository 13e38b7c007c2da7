"""Benchmarks share BENCHMARKS.md: each rewrites its own section and leaves the others where they are."""

from benchmarks.sections import replace_section


def test_a_section_is_replaced_in_place_and_the_others_are_kept(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Carga\n\nviejo\n\n## Anonimización\n\notra\n", encoding="utf-8")
    replace_section(path, "## Carga", "## Carga\n\nnuevo \\1 con barra\n")
    assert path.read_text(encoding="utf-8") == (
        "# Benchmarks\n\n## Carga\n\nnuevo \\1 con barra\n\n## Anonimización\n\notra\n"
    )


def test_a_new_section_goes_at_the_end_and_a_missing_file_is_started(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    replace_section(path, "## Práctica", "## Práctica\n\ncifras\n")
    replace_section(path, "## Carga", "## Carga\n\nmás\n")
    assert path.read_text(encoding="utf-8") == "# Benchmarks\n\n## Práctica\n\ncifras\n\n## Carga\n\nmás\n"
