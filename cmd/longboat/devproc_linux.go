package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// brokerProcAttr starts a dev broker in its own process group, so that
// Ctrl-C in the terminal reaches only dev, which then stops the brokers
// itself; and asks the kernel to send it SIGTERM when dev dies, even by
// SIGKILL, so that no broker outlives dev holding its ports.
func brokerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// listenerPIDs finds the processes listening on the given TCP ports: the
// sockets' inodes from /proc/net/tcp{,6}, then the process holding each
// one among this user's processes' descriptors. Ports it cannot place are
// left out.
func listenerPIDs(ports []int) map[int]int {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	portOf := map[string]int{} // "socket:[inode]" -> port
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if ok && err == nil && want[int(port)] {
				portOf["socket:["+fields[9]+"]"] = int(port)
			}
		}
		f.Close()
	}
	out := map[int]int{}
	if len(portOf) == 0 {
		return out
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if port, ok := portOf[link]; err == nil && ok {
				out[port] = pid
			}
		}
	}
	return out
}

// processCommand is a process's command line, shortened for a message.
func processCommand(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return "command unknown"
	}
	cmd := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
	if len(cmd) > 120 {
		cmd = cmd[:117] + "..."
	}
	return cmd
}
