package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsResponse lists the advertised ranges at the given version.
func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	keys := make([]int16, 0, len(versions))
	for k := range versions {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, versions[k].min, versions[k].max
		resp.ApiKeys = append(resp.ApiKeys, ak)
	}
	return resp
}
