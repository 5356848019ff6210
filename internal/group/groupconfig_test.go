package group

import (
	"strings"
	"testing"
	"time"
)

func TestGroupConfigValidation(t *testing.T) {
	kafka := ConfigDefaults{Heartbeat: 5 * time.Second, Session: 45 * time.Second}
	fast := ConfigDefaults{Heartbeat: time.Second, Session: 6 * time.Second} // a broker configured below Kafka's bounds
	for _, c := range []struct {
		d       ConfigDefaults
		configs map[string]string
		err     string
	}{
		{kafka, map[string]string{}, ""},
		{kafka, map[string]string{ConfigConsumerHeartbeatInterval: "15000", ConfigConsumerSessionTimeout: "60000"}, ""},
		{kafka, map[string]string{ConfigConsumerHeartbeatInterval: "15001"}, "must be less than or equal to 15000"},
		{kafka, map[string]string{ConfigConsumerSessionTimeout: "44999"}, "must be greater than or equal to 45000"},
		{kafka, map[string]string{ConfigConsumerHeartbeatInterval: "1.5"}, "not a number of type INT"},
		{kafka, map[string]string{"share.session.timeout.ms": "50000"}, "unknown group config name"},
		// The broker's own values widen the bounds: its 1 s and 6 s are
		// allowed, and so is anything between them and Kafka's.
		{fast, map[string]string{ConfigConsumerHeartbeatInterval: "1000", ConfigConsumerSessionTimeout: "6000"}, ""},
		{fast, map[string]string{ConfigConsumerHeartbeatInterval: "999"}, "must be greater than or equal to 1000"},
		{fast, map[string]string{ConfigConsumerHeartbeatInterval: "6000"}, "must be greater than consumer.heartbeat.interval.ms"},
	} {
		err := c.d.Validate(c.configs)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v with broker %v: %v, want %q", c.configs, c.d, err, c.err)
		}
	}
	if hb, s := kafka.Timeouts(map[string]string{ConfigConsumerSessionTimeout: "50000"}); hb != 5*time.Second || s != 50*time.Second {
		t.Errorf("Timeouts: %v %v", hb, s)
	}
}
