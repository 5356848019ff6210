package testutil

import (
	"flag"
	"strconv"
)

// DefaultParallel sets -test.parallel to n unless the command line gave
// one, for a TestMain before m.Run: a package whose parallel tests mostly
// wait on brokers and clients, not on the CPU, runs n at a time rather than
// GOMAXPROCS (two on CI). A fuzzing run (-fuzz) keeps its default, where
// -parallel counts the CPU-bound fuzz workers. It parses the command line
// first.
func DefaultParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	keep := false
	flag.Visit(func(f *flag.Flag) {
		keep = keep || f.Name == "test.parallel" || (f.Name == "test.fuzz" && f.Value.String() != "")
	})
	if keep {
		return
	}
	if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
		panic("testutil.DefaultParallel outside a test binary: " + err.Error())
	}
}
