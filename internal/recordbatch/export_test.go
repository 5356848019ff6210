package recordbatch

// SetMaxDecompressed lowers the decompression limit for a test and
// returns the function that restores it.
func SetMaxDecompressed(n int) (restore func()) {
	old := maxDecompressed
	maxDecompressed = n
	return func() { maxDecompressed = old }
}
