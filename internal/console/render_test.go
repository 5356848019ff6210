package console

import (
	"strings"
	"testing"
	"time"
)

func TestShowTextOrHex(t *testing.T) {
	for _, tc := range []struct {
		in       []byte
		null     bool
		hex      bool
		text     string
		cut      bool
		inLength int
	}{
		{in: []byte("héllo\tworld\n"), text: "héllo\tworld\n"},
		{in: []byte{0x00, 0xff}, hex: true, text: "00ff"},
		{in: []byte("bell\a"), hex: true, text: "62656c6c07"},
		{in: nil, null: true},
		{in: []byte(strings.Repeat("x", maxShownBytes+5)), text: strings.Repeat("x", maxShownBytes), cut: true},
	} {
		got := show(tc.in, tc.in == nil)
		if got.Null != tc.null || got.Hex != tc.hex || got.Text != tc.text || got.Cut != tc.cut || got.Len != len(tc.in) {
			t.Errorf("show(%q) = %+v", tc.in, got)
		}
	}
}

// The chart spans the samples that measured the group, scaled to its box:
// the oldest point at the left edge, the newest at the right, the peak at
// the top margin and zero at the bottom one.
func TestLagChart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ss := []sample{
		{At: t0, GroupLag: map[string]int64{"g": 0}},
		{At: t0.Add(10 * time.Second), GroupLag: map[string]int64{"other": 7}}, // g not measured
		{At: t0.Add(20 * time.Second), GroupLag: map[string]int64{"g": 50}},
		{At: t0.Add(40 * time.Second), GroupLag: map[string]int64{"g": 100}},
	}
	c := lagChart(ss, "g")
	if c.N != 3 || c.Max != 100 || c.Last != 100 || c.Span != 40*time.Second {
		t.Fatalf("chart %+v", c)
	}
	if want := "0.0,116.0 240.0,60.0 480.0,4.0"; c.Points != want {
		t.Errorf("points %q, want %q", c.Points, want)
	}
	if empty := lagChart(ss, "nobody"); empty.N != 0 || empty.Points != "" {
		t.Errorf("chart of an unsampled group: %+v", empty)
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	r := newRing(3)
	for i := range 5 {
		r.add(sample{Counters: Counters{BytesIn: float64(i)}})
	}
	got := r.all()
	if len(got) != 3 || got[0].Counters.BytesIn != 2 || got[2].Counters.BytesIn != 4 {
		t.Errorf("ring after 5 adds to 3 slots: %+v", got)
	}
}
