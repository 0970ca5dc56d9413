package eventlog

// The chain hash and the cursor sort key, for the external tests (the stores
// apply the same rules through their internal chain package).
var (
	HashEvent = hashEvent
	SortKey   = sortKey
)
