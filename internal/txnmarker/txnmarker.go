// Package txnmarker is what Longboat's transaction coordinator adds to the
// WriteTxnMarkers requests it sends the partitions' leaders: the
// transaction's sequence (partition.MarkerCommand.Seq), in a tagged field
// of each marker. Kafka's brokers skip tags they do not know, and only
// Longboat's brokers send each other WriteTxnMarkers.
package txnmarker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seqTag is far above the tags Kafka numbers from 0, so that a tag Kafka
// adds to the request later is not mistaken for it.
const seqTag = 0x4c42

// SetSeq names the transaction a marker ends. WriteTxnMarkers carries
// tagged fields from v1 (flexible versions) on.
func SetSeq(m *kmsg.WriteTxnMarkersRequestMarker, seq int64) {
	m.UnknownTags.Set(seqTag, binary.BigEndian.AppendUint64(nil, uint64(seq)))
}

// Seq is the transaction a marker ends, or 0 when the coordinator sent
// none.
func Seq(m *kmsg.WriteTxnMarkersRequestMarker) int64 {
	var seq int64
	m.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag == seqTag && len(v) == 8 {
			seq = max(0, int64(binary.BigEndian.Uint64(v)))
		}
	})
	return seq
}
