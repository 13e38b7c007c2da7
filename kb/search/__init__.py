"""The query side: one search path from a typed situation to ranked cards (`searcher`), the same
search read as passages (`passages`) or as a conversation (`conversation`), the call's stages
(`stages`) and the per-process caches they share (`caches`)."""
