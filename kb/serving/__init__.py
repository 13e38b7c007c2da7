"""Running processes: one warm panel process (`serve`) and N of them kept alive (`replicas`)."""
