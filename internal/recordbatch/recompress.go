package recordbatch

// AppendRecompressed appends to dst the batch with header h whose
// uncompressed records are recs, compressed with c at lv. Everything in
// the header but the codec bits, the length and the CRC stays: offsets,
// timestamps, producer id, epoch and sequence, the transactional and
// timestamp-type bits. The partition leader does it once, before
// proposing, so replicas store the leader's bytes and never recompress
// themselves (a codec's output may differ between library versions).
func AppendRecompressed(dst []byte, h Header, recs []byte, c Codec, lv Levels) ([]byte, error) {
	return appendCompressed(dst, h, h.Records, recs, c, lv)
}

// AppendKept is AppendRecompressed for a batch the cleaner rebuilt with
// only records of h's, recs, kept: offsets stay h's.
func AppendKept(dst []byte, h Header, records int32, recs []byte, c Codec) ([]byte, error) {
	return appendCompressed(dst, h, records, recs, c, Levels{})
}

func appendCompressed(dst []byte, h Header, records int32, recs []byte, c Codec, lv Levels) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst, err := Compress(dst, c, lv, recs)
	if err != nil {
		return nil, err
	}
	h.Attributes = h.Attributes&^AttrCompression | int16(c)
	FinishBatch(dst[start:], h, records)
	return dst, nil
}

// Recompress returns batch with its records compressed with c at lv
// (see AppendRecompressed); a batch already in c is returned as it is.
func Recompress(batch []byte, c Codec, lv Levels) ([]byte, error) {
	h := ParseHeader(batch)
	if h.Codec() == c {
		return batch, nil
	}
	recs, err := Decompress(h.Codec(), batch[HeaderSize:])
	if err != nil {
		return nil, err
	}
	return AppendRecompressed(nil, h, recs, c, lv)
}
