package group

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// A consumer group's own configs (Kafka 4.0's GROUP config resource):
// its KIP-848 session timeout and heartbeat interval, in place of the
// broker's group.consumer.* values.
const (
	ConfigConsumerSessionTimeout    = "consumer.session.timeout.ms"
	ConfigConsumerHeartbeatInterval = "consumer.heartbeat.interval.ms"
)

// Kafka's bounds on the group values (group.consumer.min/max.session.
// timeout.ms, group.consumer.min/max.heartbeat.interval.ms), widened to
// hold the broker's own values when those lie outside them.
const (
	minConsumerSession   = 45 * time.Second
	maxConsumerSession   = 60 * time.Second
	minConsumerHeartbeat = 5 * time.Second
	maxConsumerHeartbeat = 15 * time.Second
)

// ConfigDefaults are the broker's values behind a group's configs.
type ConfigDefaults struct {
	Heartbeat, Session time.Duration
}

// consumerTimeouts are a KIP-848 group's heartbeat interval and session
// timeout.
func (c *Coordinator) consumerTimeouts(group string) (heartbeat, session time.Duration) {
	return ConfigDefaults{Heartbeat: c.cfg.ConsumerHeartbeatInterval, Session: c.cfg.ConsumerSessionTimeout}.Timeouts(c.cfg.GroupConfigs(group))
}

// ConfigEntry is one group config as DescribeConfigs lists it.
type ConfigEntry struct {
	Name, Value, Doc string
	Set              bool // the group's own value, not the broker's
}

var configDocs = map[string]string{
	ConfigConsumerSessionTimeout:    "How long a member of this consumer-protocol (KIP-848) group may go without heartbeating before it is removed.",
	ConfigConsumerHeartbeatInterval: "How often members of this consumer-protocol (KIP-848) group heartbeat.",
}

// ConfigNames are the group configs this broker knows, in order.
func ConfigNames() []string {
	return []string{ConfigConsumerHeartbeatInterval, ConfigConsumerSessionTimeout}
}

// Timeouts resolves a group's heartbeat interval and session timeout:
// its own configs (already validated), else the broker's.
func (d ConfigDefaults) Timeouts(configs map[string]string) (heartbeat, session time.Duration) {
	heartbeat, session = d.Heartbeat, d.Session
	if ms, err := strconv.ParseInt(configs[ConfigConsumerHeartbeatInterval], 10, 32); err == nil {
		heartbeat = time.Duration(ms) * time.Millisecond
	}
	if ms, err := strconv.ParseInt(configs[ConfigConsumerSessionTimeout], 10, 32); err == nil {
		session = time.Duration(ms) * time.Millisecond
	}
	return heartbeat, session
}

// Entries lists a group's configs: its own values and the broker's for
// the rest.
func (d ConfigDefaults) Entries(configs map[string]string) []ConfigEntry {
	heartbeat, session := d.Timeouts(configs)
	values := map[string]time.Duration{ConfigConsumerHeartbeatInterval: heartbeat, ConfigConsumerSessionTimeout: session}
	var out []ConfigEntry
	for _, name := range ConfigNames() {
		_, set := configs[name]
		out = append(out, ConfigEntry{Name: name, Value: strconv.FormatInt(values[name].Milliseconds(), 10), Doc: configDocs[name], Set: set})
	}
	return out
}

// Validate checks a group's configs as a change would leave them, with
// Kafka's messages: known names, INT values within the bounds, and a
// session timeout above the heartbeat interval.
func (d ConfigDefaults) Validate(configs map[string]string) error {
	for name, v := range configs {
		if !slices.Contains(ConfigNames(), name) {
			return fmt.Errorf("unknown group config name: %s", name)
		}
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return fmt.Errorf("invalid value %s for configuration %s: not a number of type INT", v, name)
		}
	}
	heartbeat, session := d.Timeouts(configs)
	bound := func(v, lo, hi, broker time.Duration, name string) error {
		lo, hi = min(lo, broker), max(hi, broker)
		switch {
		case v < lo:
			return fmt.Errorf("%s must be greater than or equal to %d", name, lo.Milliseconds())
		case v > hi:
			return fmt.Errorf("%s must be less than or equal to %d", name, hi.Milliseconds())
		}
		return nil
	}
	if err := bound(heartbeat, minConsumerHeartbeat, maxConsumerHeartbeat, d.Heartbeat, ConfigConsumerHeartbeatInterval); err != nil {
		return err
	}
	if err := bound(session, minConsumerSession, maxConsumerSession, d.Session, ConfigConsumerSessionTimeout); err != nil {
		return err
	}
	if session <= heartbeat {
		return fmt.Errorf("%s must be greater than %s", ConfigConsumerSessionTimeout, ConfigConsumerHeartbeatInterval)
	}
	return nil
}
