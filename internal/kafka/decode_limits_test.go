package kafka

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocated returns the bytes fn allocates: the least of five runs, since
// other goroutines of the test binary allocate meanwhile.
func allocated(fn func()) uint64 {
	var least uint64
	for i := range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; i == 0 || got < least {
			least = got
		}
	}
	return least
}

func rawRequest(key, version int16, body []byte) []byte {
	frame := binary.BigEndian.AppendUint16(nil, uint16(key))
	frame = binary.BigEndian.AppendUint16(frame, uint16(version))
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 0) // client id ""
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		frame = append(frame, 0)
	}
	return append(frame, body...)
}

// TestDecodeHugeDeclaredArrays sends every API at every version a body
// whose every length field declares about 2^31 elements: kmsg checks each
// declared array against the bytes left (times the element's least wire
// size) before allocating, so decoding must fail without allocating.
func TestDecodeHugeDeclaredArrays(t *testing.T) {
	bodies := map[string][]byte{
		"int32 lengths":   bytes.Repeat([]byte{0x7f, 0xff, 0xff, 0xff}, 16),
		"uvarint lengths": bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 13),
	}
	for key, a := range apis {
		for v := a.min; v <= a.max; v++ {
			for name, body := range bodies {
				frame := rawRequest(key, v, body)
				var err error
				got := allocated(func() { _, _, err = decodeRequest(frame) })
				if got > 64<<10 {
					t.Errorf("%s v%d, %s: decoding %d bytes allocated %d bytes (err %v)", apiName(key), v, name, len(frame), got, err)
				}
			}
		}
	}
}

// TestDecodeAmplificationBounded measures the worst case kmsg allows: a
// Produce of empty topics, each three bytes on the wire and a 64-byte
// struct decoded. The in-flight budget counts frame bytes, so this factor
// is what the decoded form of admitted requests can reach at most.
func TestDecodeAmplificationBounded(t *testing.T) {
	const topics = 300000
	body := []byte{0, 0xff, 0xff, 0, 0, 0x75, 0x30} // no transactional id, acks -1, timeout 30000
	body = binary.AppendUvarint(body, topics+1)
	body = append(body, bytes.Repeat([]byte{1, 1, 0}, topics)...) // "" topic, no partitions, no tags
	body = append(body, 0)
	frame := rawRequest(0, 9, body)
	var req *request
	var err error
	got := allocated(func() { req, _, err = decodeRequest(frame) }) / allocsPerMake
	if err != nil {
		t.Fatal(err)
	}
	if n := len(req.body.(*kmsg.ProduceRequest).Topics); n != topics {
		t.Fatalf("decoded %d topics, sent %d", n, topics)
	}
	ratio := float64(got) / float64(len(frame))
	estimate := decodedSize(req.body, 1<<40)
	t.Logf("%d-byte frame decoded into %d bytes: %.1fx; decodedSize says %d", len(frame), got, ratio, estimate)
	if estimate < int64(got)/2 || estimate > int64(got)*2 {
		t.Errorf("decodedSize %d, but decoding allocated %d bytes", estimate, got)
	}
	if ratio > 32 {
		t.Errorf("decoding multiplied the frame %.1f times, more than the 32 the element sizes allow", ratio)
	}
}
