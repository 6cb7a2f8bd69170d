package vm

import (
	"encoding/json"
	"fmt"
)

// parseStatus reads the run state from a query-status reply.
func parseStatus(reply []byte) (string, error) {
	var r struct {
		Return struct {
			Status  string `json:"status"`
			Running bool   `json:"running"`
		} `json:"return"`
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return "", fmt.Errorf("query-status: %w", err)
	}
	if r.Error != nil {
		return "", fmt.Errorf("query-status: %s", r.Error.Desc)
	}
	if r.Return.Status == "" {
		return "", fmt.Errorf("query-status: no status in %s", reply)
	}
	return r.Return.Status, nil
}
