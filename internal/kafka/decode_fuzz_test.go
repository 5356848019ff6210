package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// Regenerate the committed seed corpus (testdata/fuzz/FuzzDecodeRequest) with
//
//	LONGBOAT_GEN_FUZZ_CORPUS=1 go test -run=TestGenerateDecodeCorpus ./internal/kafka/
//
// The same seeds are also added with f.Add, so the fuzz target keeps them even
// if the files are removed.
const genCorpusEnv = "LONGBOAT_GEN_FUZZ_CORPUS"

type fuzzSeed struct {
	name  string
	frame []byte
	// ok: decodeRequest must succeed; fallback: it must answer with the
	// KIP-511 ApiVersions v0 response; neither: it must return an error.
	ok, fallback bool
	// lossy: the body does not re-encode to the same bytes (a null array
	// comes back empty).
	lossy bool
}

// seedFrame builds a request frame without its size prefix, exactly as a
// client writes it: request header v1 (non-flexible) or v2 (flexible, with an
// empty tag section), then the body.
func seedFrame(key, version int16, corr int32, clientID *string, flexible bool, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	if flexible {
		b = append(b, 0)
	}
	return append(b, body...)
}

// fuzzRecordBatch is one valid magic-2 batch holding one record.
func fuzzRecordBatch() []byte {
	return batchtest.OneRecord([]byte("k"), []byte("value"), 1_700_000_000_000)
}

// fillRequest gives a request a few realistic fields so that its body is
// not just zeros.
func fillRequest(r kmsg.Request) {
	topic := "fuzz-topic"
	var id [16]byte
	copy(id[:], "0123456789abcdef")
	switch r := r.(type) {
	case *kmsg.ProduceRequest:
		r.Acks, r.TimeoutMillis = -1, 5000
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.TopicID = topic, id
		p := kmsg.NewProduceRequestTopicPartition()
		p.Records = fuzzRecordBatch()
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
	case *kmsg.FetchRequest:
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 500, 1, 1<<20
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = topic, id
		p := kmsg.NewFetchRequestTopicPartition()
		p.FetchOffset, p.PartitionMaxBytes = 3, 1<<20
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		r.Rack = "rack-a"
	case *kmsg.ListOffsetsRequest:
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = topic
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Timestamp = -1
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
	case *kmsg.MetadataRequest:
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = &topic
		r.Topics = append(r.Topics, t)
	case *kmsg.ApiVersionsRequest:
		r.ClientSoftwareName, r.ClientSoftwareVersion = "longboat-fuzz", "1.0"
	case *kmsg.CreateTopicsRequest:
		r.TimeoutMillis = 5000
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = topic, 3, 1
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		v := "1000"
		c.Name, c.Value = "retention.ms", &v
		t.Configs = append(t.Configs, c)
		r.Topics = append(r.Topics, t)
	case *kmsg.DeleteTopicsRequest:
		r.TimeoutMillis = 5000
		r.TopicNames = []string{topic}
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = &topic
		r.Topics = append(r.Topics, t)
	case *kmsg.DescribeConfigsRequest:
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		res.ConfigNames = []string{"retention.ms"}
		r.Resources = append(r.Resources, res)
	case *kmsg.CreatePartitionsRequest:
		r.TimeoutMillis = 5000
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = topic, 6
		r.Topics = append(r.Topics, t)
	case *kmsg.DescribeClusterRequest:
		r.IncludeClusterAuthorizedOperations = true
	case *kmsg.DescribeLogDirsRequest:
		t := kmsg.NewDescribeLogDirsRequestTopic()
		t.Topic, t.Partitions = topic, []int32{0, 1}
		r.Topics = append(r.Topics, t)
	case *kmsg.ElectLeadersRequest:
		t := kmsg.NewElectLeadersRequestTopic()
		t.Topic, t.Partitions = topic, []int32{0}
		r.Topics = append(r.Topics, t)
	case *kmsg.DescribeProducersRequest:
		t := kmsg.NewDescribeProducersRequestTopic()
		t.Topic, t.Partitions = topic, []int32{0}
		r.Topics = append(r.Topics, t)
	case *kmsg.DescribeTopicPartitionsRequest:
		t := kmsg.NewDescribeTopicPartitionsRequestTopic()
		t.Topic = topic
		r.Topics = append(r.Topics, t)
		r.ResponsePartitionLimit = 10
		r.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: topic, Partition: 3}
	}
}

func decodeSeeds() []fuzzSeed {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	cid := "fuzz-client"
	var seeds []fuzzSeed
	corr := int32(1000)
	for _, k := range keys {
		for _, v := range []int16{apis[k].min, apis[k].max} {
			req := kmsg.RequestForKey(k)
			req.SetVersion(v)
			fillRequest(req)
			corr++
			frame := seedFrame(k, v, corr, &cid, req.IsFlexible(), req.AppendTo(nil))
			name := fmt.Sprintf("%s-v%d", kmsg.NameForKey(k), v)
			seeds = append(seeds, fuzzSeed{name: name, frame: frame, ok: true})
			if apis[k].min == apis[k].max {
				break
			}
		}
	}
	// A null client id is legal in every header version.
	{
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		seeds = append(seeds, fuzzSeed{name: "Metadata-v12-null-client-id", frame: seedFrame(3, 12, 77, nil, true, req.AppendTo(nil)), ok: true})
	}
	// KIP-511: a newer ApiVersions than advertised (and its body, which the
	// broker need not understand) gets the v0 fallback.
	for _, v := range []int16{5, 127, 0x7fff} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(4)
		fillRequest(req)
		seeds = append(seeds, fuzzSeed{name: fmt.Sprintf("ApiVersions-v%d-fallback", v), frame: seedFrame(18, v, 4242+int32(v), &cid, true, req.AppendTo(nil)), fallback: true})
	}
	// Truncations: header only, inside the client id, inside the body.
	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(9)
	fillRequest(prod)
	full := seedFrame(0, 9, 9, &cid, true, prod.AppendTo(nil))
	seeds = append(seeds,
		fuzzSeed{name: "trunc-short-header", frame: full[:7]},
		fuzzSeed{name: "trunc-client-id", frame: full[:12]},
		fuzzSeed{name: "trunc-header-tags", frame: full[:10+len(cid)]},
		fuzzSeed{name: "trunc-produce-body", frame: full[:len(full)-20]},
	)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(4)
	fillRequest(ct)
	ctFull := seedFrame(19, 4, 19, &cid, false, ct.AppendTo(nil))
	seeds = append(seeds, fuzzSeed{name: "trunc-createtopics-v4", frame: ctFull[:len(ctFull)/2]})
	// Unknown key and unsupported version.
	seeds = append(seeds,
		fuzzSeed{name: "unknown-key-9999", frame: seedFrame(9999, 0, 1, &cid, false, nil)},
		fuzzSeed{name: "produce-v99", frame: seedFrame(0, 99, 1, &cid, true, nil)},
		fuzzSeed{name: "apiversions-negative-version", frame: seedFrame(18, -1, 1, &cid, false, nil), fallback: true},
	)
	// CreateTopics v4 with a null (-1) topics array, a past crash.
	{
		body := binary.BigEndian.AppendUint32(nil, 0xffffffff) // topics: null
		body = binary.BigEndian.AppendUint32(body, 5000)       // timeout
		body = append(body, 0)                                 // validate only
		seeds = append(seeds, fuzzSeed{name: "createtopics-v4-null-topics", frame: seedFrame(19, 4, 20, &cid, false, body), ok: true, lossy: true})
	}
	return seeds
}

// TestGenerateDecodeCorpus writes the seed corpus files; it is a no-op
// unless LONGBOAT_GEN_FUZZ_CORPUS is set.
func TestGenerateDecodeCorpus(t *testing.T) {
	if os.Getenv(genCorpusEnv) == "" {
		t.Skip("set " + genCorpusEnv + "=1 to regenerate testdata/fuzz/FuzzDecodeRequest")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range decodeSeeds() {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.frame)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecodeRequestSeeds pins the expected outcome of every seed.
func TestDecodeRequestSeeds(t *testing.T) {
	for _, s := range decodeSeeds() {
		t.Run(s.name, func(t *testing.T) {
			req, resp, err := decodeRequest(s.frame)
			switch {
			case s.ok:
				if err != nil || resp != nil {
					t.Fatalf("want a decoded request, got resp=%v err=%v", resp, err)
				}
				key := int16(binary.BigEndian.Uint16(s.frame))
				ver := int16(binary.BigEndian.Uint16(s.frame[2:]))
				if req.key != key || req.version != ver || req.body.Key() != key || req.body.GetVersion() != ver {
					t.Fatalf("decoded key/version %d/%d (body %d/%d), frame says %d/%d", req.key, req.version, req.body.Key(), req.body.GetVersion(), key, ver)
				}
				// Re-encoding the decoded body must give back the bytes sent.
				hdr := len(s.frame) - len(req.body.AppendTo(nil))
				if !s.lossy && (hdr < 8 || !bytes.Equal(s.frame[hdr:], req.body.AppendTo(nil))) {
					t.Fatalf("body does not round-trip")
				}
			case s.fallback:
				if err != nil || resp == nil {
					t.Fatalf("want the KIP-511 fallback response, got req=%v err=%v", req, err)
				}
				av, ok := resp.(*kmsg.ApiVersionsResponse)
				if !ok || av.ErrorCode != 35 || av.GetVersion() != 0 || len(av.ApiKeys) != len(apis) {
					t.Fatalf("fallback response %+v", resp)
				}
			default:
				if err == nil {
					t.Fatalf("want an error, got req=%+v resp=%v", req, resp)
				}
			}
			if err == nil {
				if got := int32(binary.BigEndian.Uint32(s.frame[4:])); req.correlationID != got {
					t.Fatalf("correlation id %d, frame says %d", req.correlationID, got)
				}
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := bytes.Clone(frame)
		req, resp, err := decodeRequest(frame)
		if !bytes.Equal(in, frame) {
			t.Fatalf("decodeRequest modified its input")
		}
		if err != nil {
			if req != nil || resp != nil {
				t.Fatalf("error %v returned with req=%v resp=%v", err, req, resp)
			}
			return
		}
		if req == nil {
			t.Fatalf("nil request and nil error")
		}
		if want := int32(binary.BigEndian.Uint32(frame[4:8])); req.correlationID != want {
			t.Fatalf("correlation id %d, frame bytes 4..8 say %d", req.correlationID, want)
		}
		if resp != nil {
			// Only the KIP-511 ApiVersions fallback answers without a handler.
			av, ok := resp.(*kmsg.ApiVersionsResponse)
			if req.key != 18 || !ok || av.ErrorCode != 35 || av.GetVersion() != 0 {
				t.Fatalf("unexpected ready response %T for key %d: %+v", resp, req.key, resp)
			}
			out := encodeResponse(req, resp)
			checkResponseFrame(t, out, req.correlationID)
			back := kmsg.NewPtrApiVersionsResponse()
			back.SetVersion(0)
			if err := back.ReadFrom(out[8:]); err != nil || back.ErrorCode != 35 || len(back.ApiKeys) != len(apis) {
				t.Fatalf("fallback response does not decode at v0: err=%v %+v", err, back)
			}
			return
		}
		rng, ok := apis[req.key]
		if !ok || req.version < rng.min || req.version > rng.max {
			t.Fatalf("accepted %s v%d outside the advertised versions", apiName(req.key), req.version)
		}
		if req.body == nil || req.body.Key() != req.key || req.body.GetVersion() != req.version {
			t.Fatalf("body %T does not match key %d v%d", req.body, req.key, req.version)
		}
		// The decoded request must encode again, and its response kind must
		// frame without panicking (as the handlers' responses are).
		_ = req.body.AppendTo(nil)
		rk := req.body.ResponseKind()
		out := encodeResponse(req, rk)
		checkResponseFrame(t, out, req.correlationID)
	})
}

func checkResponseFrame(t *testing.T, out []byte, corr int32) {
	t.Helper()
	if len(out) < 8 {
		t.Fatalf("response frame of %d bytes", len(out))
	}
	if n := int(binary.BigEndian.Uint32(out)); n != len(out)-4 {
		t.Fatalf("response size prefix %d for %d bytes", n, len(out)-4)
	}
	if got := int32(binary.BigEndian.Uint32(out[4:])); got != corr {
		t.Fatalf("response correlation id %d, request had %d", got, corr)
	}
}
