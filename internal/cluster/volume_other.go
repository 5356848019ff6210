//go:build !linux

package cluster

import "errors"

// volumeBytes is not measured off Linux; Kafka's -1 means unknown.
func volumeBytes(string) (total, usable int64, err error) {
	return -1, -1, errors.New("volume size is only measured on Linux")
}
