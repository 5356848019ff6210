//go:build !linux

package main

import "syscall"

// brokerProcAttr starts a dev broker in its own process group, so that
// Ctrl-C in the terminal reaches only dev, which then stops the brokers
// itself. Only Linux can also end the brokers when dev is killed.
func brokerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// listenerPIDs finds nothing here: the process holding a port is looked
// up on Linux only.
func listenerPIDs([]int) map[int]int { return nil }

func processCommand(int) string { return "" }
