package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodeRequest parses a request frame (without its size prefix). It
// returns either a request for a handler, or a ready response when the
// broker must answer without one (ApiVersions at an unknown version, per
// KIP-511), or an error after which the connection is closed.
func decodeRequest(frame []byte) (*request, kmsg.Response, error) {
	if len(frame) < 8 {
		return nil, nil, errors.New("request header shorter than 8 bytes")
	}
	req := &request{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	r := kbin.Reader{Src: frame[8:]}
	if cid := r.NullableString(); cid != nil {
		req.clientID = *cid
	}
	if !r.Ok() {
		return nil, nil, fmt.Errorf("%s: truncated client id", apiName(req.key))
	}
	if req.key == 18 && !supports(req.key, req.version) {
		// KIP-511: answer an ApiVersions we cannot parse with a v0 body that
		// carries UNSUPPORTED_VERSION and our ranges, keeping the correlation id.
		resp := apiVersionsResponse(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		req.version = 0
		return req, resp, nil
	}
	rng, registered := apis[req.key]
	if !registered {
		return nil, nil, fmt.Errorf("unsupported API key %d", req.key)
	}
	if !supports(req.key, req.version) {
		return nil, nil, fmt.Errorf("%s v%d is not supported (v%d..v%d are)", apiName(req.key), req.version, rng.min, rng.max)
	}
	body := kmsg.RequestForKey(req.key)
	body.SetVersion(req.version)
	if body.IsFlexible() {
		skipTags(&r)
		if !r.Ok() {
			return nil, nil, fmt.Errorf("%s v%d: truncated header tags", apiName(req.key), req.version)
		}
	}
	if err := body.ReadFrom(r.Src); err != nil {
		return nil, nil, fmt.Errorf("%s v%d: decode body: %w", apiName(req.key), req.version, err)
	}
	req.body = body
	return req, nil, nil
}

func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}

func apiName(key int16) string {
	if name := kmsg.NameForKey(key); name != "" {
		return name
	}
	return fmt.Sprintf("api %d", key)
}

// decodedSize estimates the bytes a decoded request allocated beyond its
// frame: the backing arrays of its slices of structs and numbers, its
// strings and unknown tags. Byte slices (records) share the frame.
func decodedSize(body kmsg.Request) int64 {
	if body == nil {
		return 0
	}
	return heapSize(reflect.ValueOf(body))
}

func heapSize(v reflect.Value) int64 {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return int64(v.Type().Elem().Size()) + heapSize(v.Elem())
	case reflect.Struct:
		var n int64
		for i := range v.NumField() {
			if f := v.Field(i); holdsHeap(f.Type()) {
				n += heapSize(f)
			}
		}
		return n
	case reflect.String:
		return int64(v.Len())
	case reflect.Map:
		// kmsg.Tags: a map from tag to bytes, a few words per entry.
		return int64(v.Len()) * 64
	case reflect.Slice:
		elem := v.Type().Elem()
		if elem.Kind() == reflect.Uint8 {
			return 0
		}
		n := int64(v.Cap()) * int64(elem.Size())
		if holdsHeap(elem) {
			for i := range v.Len() {
				n += heapSize(v.Index(i))
			}
		}
		return n
	}
	return 0
}

var heapTypes sync.Map // reflect.Type -> bool

// holdsHeap reports whether a value of type t can refer to memory outside
// itself that heapSize counts.
func holdsHeap(t reflect.Type) bool {
	if v, ok := heapTypes.Load(t); ok {
		return v.(bool)
	}
	var holds bool
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Map:
		holds = true
	case reflect.Slice:
		holds = t.Elem().Kind() != reflect.Uint8
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsHeap(t.Field(i).Type) {
				holds = true
				break
			}
		}
	case reflect.Array:
		holds = holdsHeap(t.Elem())
	}
	heapTypes.Store(t, holds)
	return holds
}
