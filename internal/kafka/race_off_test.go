//go:build !race

package kafka

// allocsPerMake is how many allocations kmsg's append(a, make([]T, l)...)
// costs: one, without the race detector.
const allocsPerMake = 1
