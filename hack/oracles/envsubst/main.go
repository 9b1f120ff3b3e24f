// Command envsubst-oracle runs the real github.com/fluxcd/pkg/envsubst on test cases, so the Python
// implementation in bootstrap/render can be compared with it (tests/unit/render/test_envsubst_oracle.py).
//
// Default mode: read JSON lines from stdin, one case each, and write one JSON line per case (flushed
// whenever the input runs dry, so it can be driven case by case):
//
//	in:  {"text": "...", "vars": {"NAME": "value"}, "strict": false}
//	     text_b64 / vars_b64 (same shape, values base64) carry bytes that are not valid UTF-8
//	out: {"out": "...", "out_b64": "...", "err": null}   or   {"out": null, "out_b64": null, "err": "..."}
//
// The lookup is the one Flux's kustomize varSubstitution builds: var names are checked against
// varsubRegex first (in sorted order, where Flux's map order is random); in strict mode a missing var is
// reported, otherwise it reads as "". A panic inside envsubst is reported as err "panic: ...".
//
// -repeat N: also run each case's Eval N times and report the mean in "ns" (bench/envsubst.py).
//
// -python-tables: print bootstrap/render/envsubst_tables.py (this Go's unicode letter/digit and case
// tables), which the Python side uses so that identifiers and case mapping follow Go, not Python.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"time"
	"unicode"

	"github.com/fluxcd/pkg/envsubst"
)

// The same expression as fluxcd/pkg/kustomize (kustomize_varsub.go).
const varsubRegex = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"

type request struct {
	Text    *string           `json:"text"`
	TextB64 *string           `json:"text_b64"`
	Vars    map[string]string `json:"vars"`
	VarsB64 map[string]string `json:"vars_b64"`
	Strict  bool              `json:"strict"`
}

type response struct {
	Out    *string `json:"out"`
	OutB64 *string `json:"out_b64"`
	Err    *string `json:"err"`
	NS     int64   `json:"ns,omitempty"` // with -repeat: nanoseconds per Eval of this case
}

var repeat = flag.Int("repeat", 0, "benchmark: run each case's Eval this many times and report ns per run")

func main() {
	tables := flag.Bool("python-tables", false, "print the generated Python unicode tables module")
	flag.Parse()
	if *tables {
		printTables(os.Stdout)
		return
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				fmt.Fprintln(os.Stderr, "envsubst-oracle: bad input line:", jerr)
				os.Exit(2)
			}
			if werr := enc.Encode(run(req)); werr != nil {
				fmt.Fprintln(os.Stderr, "envsubst-oracle:", werr)
				os.Exit(2)
			}
		}
		// Answer before waiting for more input, so a caller can go case by case over the pipes.
		if in.Buffered() == 0 || err != nil {
			if ferr := w.Flush(); ferr != nil {
				fmt.Fprintln(os.Stderr, "envsubst-oracle:", ferr)
				os.Exit(2)
			}
		}
		if err == io.EOF {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "envsubst-oracle: reading stdin:", err)
			os.Exit(2)
		}
	}
}

func decodeB64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envsubst-oracle: bad base64:", err)
		os.Exit(2)
	}
	return string(b)
}

func run(req request) (resp response) {
	text := ""
	if req.Text != nil {
		text = *req.Text
	}
	if req.TextB64 != nil {
		text = decodeB64(*req.TextB64)
	}
	vars := map[string]string{}
	for k, v := range req.Vars {
		vars[k] = v
	}
	for k, v := range req.VarsB64 {
		vars[k] = decodeB64(v)
	}
	fail := func(msg string) response { return response{Err: &msg} }

	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	r := regexp.MustCompile(varsubRegex)
	for _, k := range names {
		if !r.MatchString(k) {
			return fail(fmt.Sprintf("'%s' var name is invalid, must match '%s'", k, varsubRegex))
		}
	}

	defer func() {
		if p := recover(); p != nil {
			resp = fail(fmt.Sprintf("panic: %v", p))
		}
	}()
	lookup := func(s string) (string, bool) {
		if req.Strict {
			v, ok := vars[s]
			return v, ok
		}
		return vars[s], true
	}
	var ns int64
	if *repeat > 0 {
		start := time.Now()
		for i := 0; i < *repeat; i++ {
			_, _ = envsubst.Eval(text, lookup)
		}
		ns = time.Since(start).Nanoseconds() / int64(*repeat)
	}
	out, err := envsubst.Eval(text, lookup)
	if err != nil {
		resp = fail(err.Error())
		resp.NS = ns
		return resp
	}
	enc := base64.StdEncoding.EncodeToString([]byte(out))
	return response{Out: &out, OutB64: &enc, NS: ns}
}

// printTables writes a Python module with the ranges of runes that are letters or digits for Go and
// with Go's case ranges (lo, hi, upper delta, lower delta; UPPER_LOWER marks alternating pairs).
func printTables(w io.Writer) {
	var ident []int
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if n := len(ident); n > 0 && ident[n-1] == int(r)-1 {
				ident[n-1] = int(r)
			} else {
				ident = append(ident, int(r), int(r))
			}
		}
	}
	var cases []int
	for _, cr := range unicode.CaseRanges {
		cases = append(cases, int(cr.Lo), int(cr.Hi), int(cr.Delta[unicode.UpperCase]), int(cr.Delta[unicode.LowerCase]))
	}
	fmt.Fprintf(w, `"""Go's unicode tables for envsubst (Unicode %s). GENERATED: do not edit.

Made by `+"`hack/oracles/envsubst -python-tables`"+`; tests/unit/render/test_envsubst_oracle.py checks that it
is current.  Go, not Python's unicodedata, decides what a variable-name letter is and how a rune changes case.
"""

UNICODE_VERSION = %q

# A delta meaning "alternating upper/lower pairs starting at lo" (Go's unicode.UpperLower).
UPPER_LOWER = %d

# Flat (first, last) pairs, inclusive and sorted: runes for which unicode.IsLetter or unicode.IsDigit holds.
IDENT_RANGES = (
`, unicode.Version, unicode.Version, unicode.UpperLower)
	writeInts(w, ident)
	fmt.Fprint(w, ")\n\n# Flat (lo, hi, upper delta, lower delta) quadruples, sorted: Go's unicode.CaseRanges.\nCASE_RANGES = (\n")
	writeInts(w, cases)
	fmt.Fprint(w, ")\n")
}

func writeInts(w io.Writer, xs []int) {
	line := "   "
	for _, x := range xs {
		item := fmt.Sprintf(" %d,", x)
		if x > 9 || x < -9 {
			item = fmt.Sprintf(" %#x,", x)
			if x < 0 {
				item = fmt.Sprintf(" -%#x,", -x)
			}
		}
		if len(line)+len(item) > 118 {
			fmt.Fprintln(w, line)
			line = "   "
		}
		line += item
	}
	if line != "   " {
		fmt.Fprintln(w, line)
	}
}
