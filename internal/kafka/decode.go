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
// frame: the backing arrays of its slices of structs and numbers, where
// decoding multiplies (an element of a few bytes on the wire becomes a
// struct of tens). Strings and byte slices are at most the frame's bytes
// again and are not counted. It stops counting once past limit.
func decodedSize(body kmsg.Request, limit int64) int64 {
	if body == nil {
		return 0
	}
	z := sizer{limit: limit}
	z.add(reflect.ValueOf(body))
	return z.n
}

type sizer struct{ n, limit int64 }

func (z *sizer) add(v reflect.Value) {
	if z.n > z.limit {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			z.n += int64(v.Type().Elem().Size())
			z.add(v.Elem())
		}
	case reflect.Struct:
		for _, i := range countedFields(v.Type()) {
			z.add(v.Field(i))
		}
	case reflect.Slice:
		elem := v.Type().Elem()
		if elem.Kind() == reflect.Uint8 {
			return
		}
		z.n += int64(v.Cap()) * int64(elem.Size())
		if counted(elem) {
			for i := 0; i < v.Len() && z.n <= z.limit; i++ {
				z.add(v.Index(i))
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len() && counted(v.Type().Elem()); i++ {
			z.add(v.Index(i))
		}
	}
}

var fieldsByType sync.Map // reflect.Type -> []int

// countedFields lists the fields of struct type t that can refer to memory
// decodedSize counts.
func countedFields(t reflect.Type) []int {
	if f, ok := fieldsByType.Load(t); ok {
		return f.([]int)
	}
	var fields []int
	for i := range t.NumField() {
		if counted(t.Field(i).Type) {
			fields = append(fields, i)
		}
	}
	fieldsByType.Store(t, fields)
	return fields
}

func counted(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return true
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8
	case reflect.Struct:
		return len(countedFields(t)) > 0
	case reflect.Array:
		return counted(t.Elem())
	}
	return false
}
