package group

import "regexp"

// Kafka compiles subscription regexes with RE2/J; Go's regexp is RE2 too,
// so the syntax and the matching agree. Kafka matches the whole topic
// name (Pattern.matches), hence the anchors.

// compileRegex compiles a subscription regex, anchored.
func compileRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// compiledRegex compiles expr once per target computation.
func compiledRegex(cache map[string]*regexp.Regexp, expr string) (*regexp.Regexp, error) {
	if re, ok := cache[expr]; ok {
		return re, nil
	}
	re, err := compileRegex(expr)
	if err != nil {
		return nil, err
	}
	cache[expr] = re
	return re, nil
}
