package console

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var pageNames = []string{"overview", "topics", "topic", "records", "groups", "group", "error"}

// parsePages builds one template per page: the shared layout plus the
// page's own "content".
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"bytes": humanBytes,
		"ids":   joinIDs,
		"rate":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
		"sub":   func(a, b int64) int64 { return a - b },
		// A group name may hold any character; html/template would leave
		// '/' and '?' as they are in a path.
		"pathesc": url.PathEscape,
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
