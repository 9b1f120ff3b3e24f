// Command yamljson-oracle reads YAML the way Flux does, so that bootstrap/yamlread.py can be compared with
// it (tests/unit/test_yamlread_oracle.py, tests/integration/test_yaml_corpus.py).
//
// Default mode: JSON lines on stdin, one case each, {"yaml": "..."}; one JSON line out per case, flushed
// whenever the input runs dry: {"json": <value>} or {"error": "..."}. The value is what
// sigs.k8s.io/yaml.YAMLToJSON makes of the text (go.yaml.in/yaml/v2 underneath), decoded as
// k8s.io/apimachinery decodes JSON into unstructured objects (integers as int64, other numbers float64).
//
// -stream: stdin is one multi-document YAML stream, cut into documents and decoded as fluxcd/pkg/ssa's
// ReadObjects does for kustomize-controller (k8s.io/apimachinery's YAMLReader: a line starting with "---"
// ends a document; each document through sigs.k8s.io/yaml into an unstructured object; the same rules
// are copied here rather than linking apimachinery); one JSON line per object, or {"error": "..."} last.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

type request struct {
	YAML string `json:"yaml"`
}

type response struct {
	JSON  *json.RawMessage `json:"json,omitempty"`
	Error *string          `json:"error,omitempty"`
}

func one(text string) response {
	j, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		msg := err.Error()
		return response{Error: &msg}
	}
	value, err := decode(j)
	if err != nil {
		msg := err.Error()
		return response{Error: &msg}
	}
	out, err := json.Marshal(value)
	if err != nil {
		msg := err.Error()
		return response{Error: &msg}
	}
	raw := json.RawMessage(out)
	return response{JSON: &raw}
}

// decode reads JSON as k8s.io/apimachinery/pkg/util/json.Unmarshal does into interface{}: a number is an
// int64 when it parses as one, else a float64.
func decode(j []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var value interface{}
	if err := dec.Decode(&value); err != nil {
		return nil, err
	}
	return numbers(value), nil
}

func numbers(v interface{}) interface{} {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]interface{}:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []interface{}:
		for i, e := range t {
			t[i] = numbers(e)
		}
	}
	return v
}

// documents cuts a stream as k8s.io/apimachinery/pkg/util/yaml's YAMLReader.Read does.
func documents(data []byte) ([][]byte, error) {
	var out [][]byte
	var buffer bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("---")) {
			trimmed := strings.TrimSpace(string(line[3:]))
			if len(trimmed) > 0 && trimmed[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
			}
			if buffer.Len() != 0 {
				out = append(out, append([]byte(nil), buffer.Bytes()...))
				buffer.Reset()
			}
			continue
		}
		buffer.Write(line)
	}
	if buffer.Len() != 0 {
		out = append(out, buffer.Bytes())
	}
	return out, nil
}

func stream(in io.Reader, out *json.Encoder) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	docs, err := documents(data)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return err
		}
		value, err := decode(j)
		if err != nil {
			return err
		}
		if value == nil {
			continue
		}
		if err := out.Encode(value); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	streamMode := flag.Bool("stream", false, "decode stdin as one stream of objects, as kustomize-controller")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if *streamMode {
		if err := stream(os.Stdin, enc); err != nil {
			msg := err.Error()
			_ = enc.Encode(response{Error: &msg})
		}
		return
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				fmt.Fprintln(os.Stderr, "bad request:", jerr)
				os.Exit(2)
			}
			if eerr := enc.Encode(one(req.YAML)); eerr != nil {
				fmt.Fprintln(os.Stderr, eerr)
				os.Exit(2)
			}
			if in.Buffered() == 0 {
				w.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}
