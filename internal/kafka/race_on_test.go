//go:build race

package kafka

// allocsPerMake is how many allocations kmsg's append(a, make([]T, l)...)
// costs: the race detector keeps the compiler from making it one.
const allocsPerMake = 2
