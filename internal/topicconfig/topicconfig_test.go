package topicconfig

import "testing"

func TestResolveSources(t *testing.T) {
	b := BrokerDefaults{RetentionMs: 604800000, RetentionBytes: 1 << 30, SegmentBytes: 1073741824, SegmentMs: 604800000}
	got := map[string]Entry{}
	for _, e := range Resolve(map[string]string{"retention.ms": "1000"}, b) {
		got[e.Name] = e
	}
	if len(got) != len(kafkaDefaults) {
		t.Fatalf("%d entries, want %d", len(got), len(kafkaDefaults))
	}
	want := map[string]Entry{
		"retention.ms":    {"retention.ms", "1000", SourceDynamicTopic},
		"retention.bytes": {"retention.bytes", "1073741824", SourceStaticBroker},
		"segment.bytes":   {"segment.bytes", "1073741824", SourceDefault}, // the broker sets Kafka's default
		"cleanup.policy":  {"cleanup.policy", "delete", SourceDefault},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %+v, want %+v", name, got[name], w)
		}
	}
	l := ForLog(map[string]string{"message.timestamp.type": "LogAppendTime", "segment.ms": "5"}, b)
	if !l.LogAppendTime || l.SegmentMs != 5 || l.RetentionBytes != 1<<30 || l.RetentionMs != 604800000 || l.MaxMessageBytes != 1048588 {
		t.Errorf("ForLog = %+v", l)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.bytes", "x", false},
		{"segment.bytes", "1024", true},
		{"segment.bytes", "1023", false},
		{"segment.ms", "0", false},
		{"cleanup.policy", "delete", true},
		{"cleanup.policy", "compact", false},
		{"message.timestamp.type", "LogAppendTime", true},
		{"message.timestamp.type", "Now", false},
		{"min.insync.replicas", "2", true},
		{"max.message.bytes", "99999999999", false},
		{"no.such.config", "1", false},
	} {
		if msg := Validate(c.name, c.value); (msg == "") != c.ok {
			t.Errorf("Validate(%s=%s) = %q, want ok=%v", c.name, c.value, msg, c.ok)
		}
	}
}
