package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DockerBackend drives the Compose appliance's containers with the docker
// CLI: containers longboat-broker1..N on the network longboat-net, Kafka
// published on localhost:9092.., HTTP on localhost:13092... It assumes the
// stack is already up (docker compose up -d) and leaves it up.
type DockerBackend struct {
	Prefix    string // container name prefix, "longboat-broker"
	Network   string // "longboat-net"
	Host      string // where published ports are reached, "localhost"
	KafkaPort int    // broker N's Kafka port is KafkaPort+N-1
	HTTPPort  int    // broker N's HTTP port is HTTPPort+N-1
	n         int
	saved     map[int]dockerEndpoint
}

type dockerEndpoint struct {
	IPAddress string   `json:"IPAddress"`
	Aliases   []string `json:"Aliases"`
}

func NewDockerBackend(n int) *DockerBackend {
	return &DockerBackend{Prefix: "longboat-broker", Network: "longboat-net", Host: "localhost", KafkaPort: 9092, HTTPPort: 13092, n: n, saved: map[int]dockerEndpoint{}}
}

func (d *DockerBackend) Name() string           { return "docker" }
func (d *DockerBackend) Brokers() int           { return d.n }
func (d *DockerBackend) KafkaAddr(i int) string { return fmt.Sprintf("%s:%d", d.Host, d.KafkaPort+i-1) }
func (d *DockerBackend) HTTPAddr(i int) string  { return fmt.Sprintf("%s:%d", d.Host, d.HTTPPort+i-1) }
func (d *DockerBackend) Partitions() bool       { return true }
func (d *DockerBackend) OneWay() bool           { return false }
func (d *DockerBackend) DataDir(int) string     { return "" }
func (d *DockerBackend) Notes() []string {
	return []string{"docker backend: one-way cuts unsupported; an isolated broker's HTTP is unreachable while cut; replica logs are not compared offline"}
}
func (d *DockerBackend) container(i int) string { return fmt.Sprintf("%s%d", d.Prefix, i) }

func (d *DockerBackend) docker(args ...string) error {
	return sh(append([]string{"docker"}, args...)...)
}

// Start starts any stopped container of the stack.
func (d *DockerBackend) Start(ctx context.Context) error {
	for i := 1; i <= d.n; i++ {
		if err := d.docker("start", d.container(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *DockerBackend) Kill(i int) error {
	return d.docker("kill", "--signal", "KILL", d.container(i))
}
func (d *DockerBackend) Restart(i int) error { return d.docker("start", d.container(i)) }
func (d *DockerBackend) Pause(i int) error   { return d.docker("pause", d.container(i)) }
func (d *DockerBackend) Resume(i int) error  { return d.docker("unpause", d.container(i)) }

// Isolate disconnects the container from the stack's network, which also
// cuts the published ports; its address and aliases are kept for Heal.
func (d *DockerBackend) Isolate(i int) error {
	out, err := exec.Command("docker", "inspect", "-f", "{{json (index .NetworkSettings.Networks \""+d.Network+"\")}}", d.container(i)).Output()
	if err != nil {
		return fmt.Errorf("inspect %s: %w", d.container(i), err)
	}
	var ep dockerEndpoint
	if err := json.Unmarshal(out, &ep); err != nil {
		return fmt.Errorf("inspect %s network %s: %w (%s)", d.container(i), d.Network, err, out)
	}
	d.saved[i] = ep
	return d.docker("network", "disconnect", d.Network, d.container(i))
}

func (d *DockerBackend) CutInbound(int) error { return ErrUnsupported }

func (d *DockerBackend) Heal(i int) error {
	ep, ok := d.saved[i]
	if !ok {
		return nil
	}
	args := []string{"network", "connect"}
	for _, a := range ep.Aliases {
		if a != "" && !strings.HasPrefix(ep.IPAddress, a) {
			args = append(args, "--alias", a)
		}
	}
	withIP := append(append([]string{}, args...), "--ip", ep.IPAddress, d.Network, d.container(i))
	if err := d.docker(withIP...); err != nil {
		// A network without a configured subnet cannot pin the address.
		if err2 := d.docker(append(args, d.Network, d.container(i))...); err2 != nil {
			return fmt.Errorf("%v; without --ip: %w", err, err2)
		}
	}
	delete(d.saved, i)
	return nil
}

func (d *DockerBackend) Stop() error { return nil }

// Cleanup undoes any fault left behind: unpause, reconnect, start.
func (d *DockerBackend) Cleanup() {
	for i := 1; i <= d.n; i++ {
		_ = d.docker("unpause", d.container(i))
		_ = d.Heal(i)
		_ = d.docker("start", d.container(i))
	}
}

func (d *DockerBackend) CollectLogs(dir string) error {
	for i := 1; i <= d.n; i++ {
		out, _ := exec.Command("docker", "logs", "--timestamps", d.container(i)).CombinedOutput()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("broker%d.log", i)), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
