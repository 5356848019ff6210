package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a batch's compression codec, the low three attribute bits.
type Codec int8

// Kafka's codec ids; CodecProducer is compression.type=producer: keep the
// codec the producer chose.
const (
	CodecProducer Codec = -1
	CodecNone     Codec = 0
	CodecGzip     Codec = 1
	CodecSnappy   Codec = 2
	CodecLz4      Codec = 3
	CodecZstd     Codec = 4
)

// ParseCodec maps a compression.type value to its codec.
func ParseCodec(name string) (Codec, error) {
	switch name {
	case "producer":
		return CodecProducer, nil
	case "uncompressed":
		return CodecNone, nil
	case "gzip":
		return CodecGzip, nil
	case "snappy":
		return CodecSnappy, nil
	case "lz4":
		return CodecLz4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("compression type %q: want producer, uncompressed, gzip, snappy, lz4 or zstd", name)
}

// Codec is the batch's compression codec.
func (h Header) Codec() Codec { return Codec(h.Attributes & AttrCompression) }

// Levels are compression.gzip.level, compression.lz4.level and
// compression.zstd.level; the zero value means each codec's default.
type Levels struct {
	Gzip, Lz4, Zstd int
}

// MaxDecompressed bounds what one batch may inflate to, so a small
// crafted batch (a "zip bomb") cannot exhaust the broker's memory; it is
// far above any batch a producer builds (max.message.bytes is 1 MiB by
// default, and producers compress batches of at most a few MiB).
const MaxDecompressed = 256 << 20

// maxDecompressed is MaxDecompressed, lowered by tests.
var maxDecompressed = MaxDecompressed

// ErrTooLarge marks compressed records that inflate past MaxDecompressed.
var ErrTooLarge = errors.New("decompressed records too large")

// xerialMagic starts snappy framed the way the Java producer (xerial's
// SnappyOutputStream) frames it: magic, version 1, compatible version 1,
// then blocks, each a big-endian length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialBlock = 32 << 10 // the Java stream's block size

// Decompress returns the records of a batch compressed with c. Snappy is
// accepted both xerial-framed (Java, librdkafka) and as one raw block
// (franz-go, sarama); lz4 is the LZ4 frame format. Failures wrap ErrCorrupt.
func Decompress(c Codec, src []byte) ([]byte, error) {
	out, err := decompress(c, src)
	if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupportedCodec) {
		err = fmt.Errorf("%w: codec %d: %v", ErrCorrupt, c, err)
	}
	return out, err
}

func decompress(c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return src, nil
	case CodecGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readLimited(r)
	case CodecSnappy:
		if bytes.HasPrefix(src, xerialMagic) && len(src) >= 16 {
			return unxerial(src[16:])
		}
		return snappyBlock(nil, src)
	case CodecLz4:
		return readLimited(lz4.NewReader(bytes.NewReader(src)))
	case CodecZstd:
		out, err := zstdDecoder.DecodeAll(src, nil)
		if err == nil && len(out) > maxDecompressed {
			return nil, ErrTooLarge
		}
		return out, err
	}
	return nil, fmt.Errorf("%w: codec %d", ErrUnsupportedCodec, c)
}

// readLimited reads r to its end, failing past MaxDecompressed.
func readLimited(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, int64(maxDecompressed)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(maxDecompressed) {
		return nil, ErrTooLarge
	}
	return b.Bytes(), nil
}

// snappyBlock appends one raw snappy block's contents to dst.
func snappyBlock(dst, block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed-len(dst) {
		return nil, ErrTooLarge
	}
	out, err := snappy.Decode(nil, block)
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// unxerial decodes the blocks after a xerial header.
func unxerial(src []byte) ([]byte, error) {
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("xerial block length cut short")
		}
		n := binary.BigEndian.Uint32(src)
		if int64(n) > int64(len(src)-4) {
			return nil, fmt.Errorf("xerial block of %d bytes past the end", n)
		}
		var err error
		if out, err = snappyBlock(out, src[4:4+n]); err != nil {
			return nil, err
		}
		src = src[4+n:]
	}
	return out, nil
}

// zstdDecoder is shared: DecodeAll is safe for concurrent use. Its
// memory limit stops a frame from inflating past MaxDecompressed.
var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxDecompressed))

// Compress appends src compressed with c at the given levels to dst. Snappy
// is written xerial-framed, as Kafka's broker writes it when it
// recompresses, which every client decodes.
func Compress(dst []byte, c Codec, lv Levels, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, lv.Gzip, src)
	case CodecSnappy:
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		for len(src) > 0 {
			chunk := src[:min(len(src), xerialBlock)]
			enc := snappy.Encode(nil, chunk)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(enc)))
			dst = append(dst, enc...)
			src = src[len(chunk):]
		}
		return dst, nil
	case CodecLz4:
		return compressLz4(dst, lv.Lz4, src)
	case CodecZstd:
		enc, err := zstdEncoder(lv.Zstd)
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("%w: codec %d", ErrUnsupportedCodec, c)
}

// Writers are pooled per level: a gzip or lz4 writer allocates its
// window and block buffers up front.
var (
	gzipPools sync.Map // level -> *sync.Pool of *gzip.Writer
	lz4Pools  sync.Map // lz4.CompressionLevel -> *sync.Pool of *lz4.Writer
	zstdEncs  sync.Map // zstd.EncoderLevel -> *zstd.Encoder (EncodeAll is concurrency-safe)
)

func pool(m *sync.Map, level int, mk func() any) *sync.Pool {
	if p, ok := m.Load(level); ok {
		return p.(*sync.Pool)
	}
	p, _ := m.LoadOrStore(level, &sync.Pool{New: mk})
	return p.(*sync.Pool)
}

// compressGzip uses Kafka's levels: 0 or -1 is the default, else 1..9.
func compressGzip(dst []byte, level int, src []byte) ([]byte, error) {
	if level == 0 {
		level = gzip.DefaultCompression
	}
	if level < gzip.HuffmanOnly || level > gzip.BestCompression {
		return nil, fmt.Errorf("gzip level %d: want -1 or 1..9", level)
	}
	p := pool(&gzipPools, level, func() any { w, _ := gzip.NewWriterLevel(io.Discard, level); return w })
	w := p.Get().(*gzip.Writer)
	defer p.Put(w)
	b := bytes.NewBuffer(dst)
	w.Reset(b)
	if _, err := w.Write(src); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return b.Bytes(), nil
}

// compressLz4 writes an LZ4 frame with 64 KiB independent blocks, as
// Kafka's Java writer does. Kafka's levels run 1..17 (default 9): below 3
// the fast compressor, else the high-compression one, whose deepest
// level here is 9.
func compressLz4(dst []byte, level int, src []byte) ([]byte, error) {
	if level == 0 {
		level = 9
	}
	cl := lz4.Fast
	if level >= 3 {
		cl = lz4.CompressionLevel(1 << (8 + min(level, 9)))
	}
	p := pool(&lz4Pools, int(cl), func() any {
		w := lz4.NewWriter(io.Discard)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.CompressionLevelOption(cl)); err != nil {
			panic(fmt.Sprintf("lz4 options: %v", err)) // fixed, valid options
		}
		return w
	})
	w := p.Get().(*lz4.Writer)
	defer p.Put(w)
	b := bytes.NewBuffer(dst)
	w.Reset(b)
	if _, err := w.Write(src); err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	return b.Bytes(), nil
}

// zstdEncoder maps Kafka's zstd level (0: its default 3) to one of the
// encoder's four speed levels, one shared encoder each.
func zstdEncoder(level int) (*zstd.Encoder, error) {
	if level == 0 {
		level = 3
	}
	speed := zstd.EncoderLevelFromZstd(level)
	if e, ok := zstdEncs.Load(speed); ok {
		return e.(*zstd.Encoder), nil
	}
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(speed), zstd.WithWindowSize(1<<20), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstd level %d: %w", level, err)
	}
	got, _ := zstdEncs.LoadOrStore(speed, e)
	return got.(*zstd.Encoder), nil
}
