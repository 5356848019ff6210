package txnmarker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The sequence survives the wire at v1, the version the coordinator sends.
func TestSeqRoundTrip(t *testing.T) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch = 3, 1
	SetSeq(&m, 1<<40+5)
	plain := kmsg.NewWriteTxnMarkersRequestMarker()
	req.Markers = append(req.Markers, m, plain)

	got := kmsg.NewPtrWriteTxnMarkersRequest()
	got.SetVersion(1)
	if err := got.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	if s := Seq(&got.Markers[0]); s != 1<<40+5 {
		t.Fatalf("seq %d after the round trip, want %d", s, int64(1<<40+5))
	}
	if s := Seq(&got.Markers[1]); s != 0 {
		t.Fatalf("marker without a seq decodes as %d, want 0", s)
	}
}
