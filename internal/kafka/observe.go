package kafka

import (
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// observe records a handled request's latency and outcome.
func (s *Server) observe(req *request, resp kmsg.Response, took time.Duration) {
	api := apiName(req.key)
	s.metrics.RequestDuration.WithLabelValues(api).Observe(took.Seconds())
	s.metrics.Requests.WithLabelValues(api, errorName(firstError(resp))).Inc()
}

func errorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return "UNKNOWN"
}

// firstError finds the first non-zero error code in a response, looking
// at every field named ErrorCode: a struct's own before those nested in
// it, so a top-level code comes before its topics' and those before their
// partitions'.
// Walking kmsg's generated structs, rather than a list per API, finds the
// codes of every API the same way, including one registered later.
func firstError(resp kmsg.Response) int16 {
	if resp == nil {
		return 0
	}
	v := reflect.ValueOf(resp)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	return firstCode(v)
}

func firstCode(v reflect.Value) int16 {
	for _, st := range codePlan(v.Type()) {
		f := v.Field(st.field)
		switch {
		case st.code:
			if c := int16(f.Int()); c != 0 {
				return c
			}
		case f.Kind() == reflect.Slice:
			for i := range f.Len() {
				if c := firstCode(f.Index(i)); c != 0 {
					return c
				}
			}
		case f.Kind() == reflect.Pointer:
			if !f.IsNil() {
				if c := firstCode(f.Elem()); c != 0 {
					return c
				}
			}
		default:
			if c := firstCode(f); c != 0 {
				return c
			}
		}
	}
	return 0
}

// codeStep is one field of a struct that is an error code (code) or holds
// some (a struct, a pointer to one or a slice of them).
type codeStep struct {
	field int
	code  bool
}

var codePlans sync.Map // reflect.Type -> []codeStep

// codePlan lists the fields of struct type t that are error codes, then
// those that hold some; fields that cannot hold one (record bytes, tags)
// are left out, so walking a large Fetch response stays cheap.
func codePlan(t reflect.Type) []codeStep {
	if p, ok := codePlans.Load(t); ok {
		return p.([]codeStep)
	}
	var codes, nested []codeStep
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
			codes = append(codes, codeStep{field: i, code: true})
			continue
		}
		if inner := structOf(f.Type); inner != nil && len(codePlan(inner)) > 0 {
			nested = append(nested, codeStep{field: i})
		}
	}
	plan := append(codes, nested...)
	codePlans.Store(t, plan)
	return plan
}

// structOf is the struct type a field of type t holds, directly or through
// a pointer or slice, or nil.
func structOf(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}
