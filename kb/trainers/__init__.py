"""Trainers' tools: review guides (`check`, `spelling`), measure search (`evaluate`, `crossval`,
`significance`) and teach it the contact centre's words (`learning`)."""
