package storage

// Exported for the tests of package storage_test.
var DecodeCacheSize = cacheSize

const (
	DecodeCacheMaxEntries = cacheShards * cachePerShard
	DecodeCacheMaxBytes   = cacheShards * cacheShardBytes
)

func DecodeCacheStats() (hits, misses int64) { return cacheHits.Load(), cacheMiss.Load() }
