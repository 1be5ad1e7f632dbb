package web_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
)

// testPassword is the password the connection tests store. No response
// may ever contain it.
const testPassword = "s3cret-Pa55word-do-not-show"

// mustHideSecret fails the test if any response body has secret in it.
func mustHideSecret(t *testing.T, secret string, responses ...response) {
	t.Helper()
	for i, r := range responses {
		if strings.Contains(r.Body, secret) {
			t.Errorf("response %d (status %d) contains the password; body:\n%s", i, r.Status, r.Body)
		}
	}
}

func mysqlForm(name string) url.Values {
	return url.Values{
		"name": {name}, "type": {"mysql"}, "host": {"db.internal"}, "port": {"3307"},
		"database": {"shop"}, "user": {"ferry"}, "password": {testPassword},
		"params": {"tls=true\n\n  charset = utf8mb4 \n"},
	}
}

func getConnection(t *testing.T, b *browser, name string) admin.Connection {
	t.Helper()
	c, err := b.env.Admin.GetConnection(context.Background(), name)
	if err != nil {
		t.Fatalf("connection %q: %v", name, err)
	}
	return c
}

func connectionCount(t *testing.T, b *browser) int {
	t.Helper()
	conns, err := b.env.Admin.ListConnections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(conns)
}

func TestConnectionCreateMySQL(t *testing.T) {
	b := startUI(t)

	form := b.get("/connections/new")
	if form.Status != http.StatusOK {
		t.Fatalf("GET /connections/new: status %d, want 200", form.Status)
	}
	mustContain(t, form.Body, `id="connection-form"`, `id="conn-name"`, `id="conn-type"`, `id="conn-host"`,
		`id="conn-port"`, `id="conn-database"`, `id="conn-user"`, `id="conn-password"`, `id="conn-path"`,
		`id="conn-params"`, `id="connection-save"`, "MySQL / MariaDB", "Parquet file (destination only)")

	saved := b.post("/connections", mysqlForm("orders-db"))
	if saved.Status != http.StatusSeeOther || saved.Location != "/connections" {
		t.Fatalf("POST /connections: status %d location %q, want 303 to /connections; body:\n%s", saved.Status, saved.Location, saved.Body)
	}
	c := getConnection(t, b, "orders-db")
	if c.Type != "mysql" || c.Host != "db.internal" || c.Port != 3307 || c.Database != "shop" || c.User != "ferry" {
		t.Errorf("stored connection = %+v, want the form's values", c)
	}
	if !c.HasPassword {
		t.Error("stored connection has no password, want one")
	}
	if got := c.Params; len(got) != 2 || got["tls"] != "true" || got["charset"] != "utf8mb4" {
		t.Errorf("params = %v, want tls=true and charset=utf8mb4", got)
	}

	list := b.get("/connections")
	mustContain(t, list.Body, `id="connections"`, `data-connection="orders-db"`, "db.internal:3307/shop", ">yes<")
	edit := b.get("/connections/orders-db/edit")
	mustContain(t, edit.Body, `id="conn-password-stored"`, "A password is stored", "Remove the stored password",
		"charset=utf8mb4\ntls=true")
	mustHideSecret(t, testPassword, form, saved, list, edit)
	mustNotContain(t, form.Body+list.Body+edit.Body, "⟦")
}

func TestConnectionCreateFileTypes(t *testing.T) {
	b := startUI(t)
	dir := t.TempDir()
	for _, typ := range []string{"sqlite", "csv", "jsonl", "parquet"} {
		path := filepath.Join(dir, "data."+typ)
		r := b.post("/connections", url.Values{"name": {"f-" + typ}, "type": {typ}, "path": {path}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("POST %s connection: status %d, want 303; body:\n%s", typ, r.Status, r.Body)
		}
		c := getConnection(t, b, "f-"+typ)
		if c.Type != typ || c.Path != path || c.HasPassword {
			t.Errorf("stored %s connection = %+v, want path %q and no password", typ, c, path)
		}
	}
	mustContain(t, b.get("/connections").Body, filepath.Join(dir, "data.sqlite"), `data-connection="f-parquet"`)
}

func TestConnectionCreateBadInput(t *testing.T) {
	b := startUI(t)
	with := func(changes map[string]string) url.Values {
		f := mysqlForm("bad-input")
		for k, v := range changes {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		name    string
		form    url.Values
		message string
	}{
		{"missing name", with(map[string]string{"name": ""}), "Fill in this field."},
		{"invalid name", with(map[string]string{"name": "no spaces"}), "Use 1 to 63 letters"},
		{"unknown type", with(map[string]string{"type": "oracle"}), "Choose one of the listed types."},
		{"missing host", with(map[string]string{"host": ""}), "Fill in this field."},
		{"port out of range", with(map[string]string{"port": "70000"}), `&#34;70000&#34; is not a port`},
		{"port not a number", with(map[string]string{"port": "mysql"}), `&#34;mysql&#34; is not a port`},
		{"path on a server", with(map[string]string{"path": "/tmp/x"}), "takes no path"},
		{"params without equals", with(map[string]string{"params": "tls"}), `The line &#34;tls&#34; is not key=value`},
		{"params repeated key", with(map[string]string{"params": "tls=true\ntls=false"}), "appears twice"},
		{"sqlite without path", url.Values{"name": {"lite"}, "type": {"sqlite"}}, "Fill in this field."},
		{"sqlite with password", url.Values{"name": {"lite"}, "type": {"sqlite"}, "path": {"/tmp/a.db"}, "password": {testPassword}},
			"Only MySQL/MariaDB and PostgreSQL use this field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/connections", tc.form)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body:\n%s", r.Status, r.Body)
			}
			mustContain(t, r.Body, tc.message, `class="field-error"`, "Some fields need fixing", `id="connection-form"`)
			mustHideSecret(t, testPassword, r)
			if n := connectionCount(t, b); n != 0 {
				t.Errorf("%d connections stored, want 0", n)
			}
		})
	}

	// The user's other values come back, so only the bad field needs typing.
	r := b.post("/connections", with(map[string]string{"port": "70000"}))
	mustContain(t, r.Body, `value="db.internal"`, `value="shop"`, `value="70000"`)
}

func TestConnectionCreateRejectedByAPI(t *testing.T) {
	b := startUI(t)
	if r := b.post("/connections", mysqlForm("dup")); r.Status != http.StatusSeeOther {
		t.Fatalf("first POST: status %d, want 303", r.Status)
	}
	r := b.post("/connections", mysqlForm("dup"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate POST: status %d, want 422; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, "already exists", `value="dup"`)
	mustHideSecret(t, testPassword, r)
	if n := connectionCount(t, b); n != 1 {
		t.Errorf("%d connections stored, want 1", n)
	}
}

func TestConnectionJapanese(t *testing.T) {
	b := startUI(t)
	b.lang = "ja"
	b.post("/connections", mysqlForm("jp-db"))
	mustContain(t, b.get("/connections").Body, "<h1>接続</h1>", `data-connection="jp-db"`, "あり")
	mustContain(t, b.get("/connections/new").Body, "接続の作成", "ドライバーパラメーター")
	mustContain(t, b.get("/connections/jp-db/edit").Body, "この接続にはパスワードが保存されています。", "保存済みのパスワードを削除する")
	r := b.post("/connections", url.Values{"name": {"x"}, "type": {"mysql"}, "port": {"abc"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "「abc」はポート番号ではありません", "この項目を入力してください")
	mustNotContain(t, r.Body, "⟦")
}

func TestConnectionEditPassword(t *testing.T) {
	b := startUI(t)
	b.post("/connections", mysqlForm("pw"))
	c := getConnection(t, b, "pw")
	var all []response

	// Keep: an empty password field leaves the stored one.
	keep := mysqlForm("pw")
	keep.Set("password", "")
	keep.Set("host", "db2.internal")
	r := b.post("/connections/"+c.ID, keep)
	all = append(all, r)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("keep: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	if got := getConnection(t, b, "pw"); !got.HasPassword || got.Host != "db2.internal" {
		t.Errorf("after keep: hasPassword %v host %q, want true and db2.internal", got.HasPassword, got.Host)
	}

	// Both a new password and removal is a form error.
	both := mysqlForm("pw")
	both.Set("clear_password", "1")
	r = b.post("/connections/"+c.ID, both)
	all = append(all, r)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("both: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "not both", `id="conn-password-stored"`)

	// Remove.
	clear := mysqlForm("pw")
	clear.Set("password", "")
	clear.Set("clear_password", "1")
	all = append(all, b.post("/connections/"+c.ID, clear))
	if getConnection(t, b, "pw").HasPassword {
		t.Error("after clear: hasPassword true, want false")
	}
	edit := b.get("/connections/pw/edit")
	all = append(all, edit)
	mustNotContain(t, edit.Body, `id="conn-password-stored"`, `name="clear_password"`)

	// Replace: set a new one.
	all = append(all, b.post("/connections/"+c.ID, mysqlForm("pw")))
	if !getConnection(t, b, "pw").HasPassword {
		t.Error("after replace: hasPassword false, want true")
	}
	all = append(all, b.get("/connections/pw/edit"), b.get("/connections"))
	mustHideSecret(t, testPassword, all...)
}

func TestConnectionEditTypeChange(t *testing.T) {
	b := startUI(t)
	b.post("/connections", mysqlForm("moving"))
	c := getConnection(t, b, "moving")
	path := filepath.Join(t.TempDir(), "m.db")

	toSQLite := url.Values{"name": {"moving"}, "type": {"sqlite"}, "path": {path}}
	r := b.post("/connections/"+c.ID, toSQLite)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("type change with a stored password: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "takes no password")
	if got := getConnection(t, b, c.ID); got.Type != "mysql" {
		t.Errorf("type = %q after a refused edit, want mysql", got.Type)
	}

	toSQLite.Set("clear_password", "1")
	toSQLite.Set("name", "moved")
	if r := b.post("/connections/"+c.ID, toSQLite); r.Status != http.StatusSeeOther {
		t.Fatalf("type change with removal: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	got := getConnection(t, b, c.ID)
	if got.Type != "sqlite" || got.Name != "moved" || got.Path != path || got.HasPassword || got.Host != "" {
		t.Errorf("after the edit: %+v, want sqlite %q named moved without host or password", got, path)
	}
}

func TestConnectionFormsRejectBadCSRF(t *testing.T) {
	b := startUI(t)
	for _, token := range []string{"", "wrong"} {
		f := mysqlForm("csrf")
		if token != "" {
			f.Set("csrf", token)
		}
		r := b.postRaw("/connections", f)
		if r.Status != http.StatusForbidden {
			t.Errorf("create with CSRF token %q: status %d, want 403", token, r.Status)
		}
		mustHideSecret(t, testPassword, r)
	}
	if n := connectionCount(t, b); n != 0 {
		t.Fatalf("%d connections stored after rejected posts, want 0", n)
	}

	b.post("/connections", mysqlForm("csrf"))
	c := getConnection(t, b, "csrf")
	f := mysqlForm("csrf")
	f.Set("host", "evil.example")
	f.Set("csrf", "wrong")
	if r := b.postRaw("/connections/"+c.ID, f); r.Status != http.StatusForbidden {
		t.Errorf("edit with a wrong CSRF token: status %d, want 403", r.Status)
	}
	if got := getConnection(t, b, c.ID); got.Host != "db.internal" {
		t.Errorf("host = %q after a rejected edit, want db.internal", got.Host)
	}
}

func TestConnectionPagesEscape(t *testing.T) {
	b := startUI(t)
	const evil = `"'><script>alert(1)</script>`
	_, err := b.env.Admin.CreateConnection(context.Background(), admin.CreateConnectionRequest{
		Name: "evil", Type: "postgres", Host: evil, Database: "<b>db</b>", User: evil,
		Params: map[string]string{"sslmode": evil},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/connections", "/connections/evil/edit"} {
		body := b.get(path).Body
		mustNotContain(t, body, "<script>alert(1)", "<b>db</b>")
		mustContain(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	}
}

func TestConnectionPagesNeedSignIn(t *testing.T) {
	b := newBrowser(t, startUI(t).env)
	for _, path := range []string{"/connections", "/connections/new", "/connections/x/edit"} {
		r := b.get(path)
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
			t.Errorf("GET %s signed out: status %d location %q, want 303 to /signin", path, r.Status, r.Location)
		}
	}
	if r := b.postRaw("/connections", mysqlForm("anon")); r.Status != http.StatusForbidden {
		t.Errorf("POST signed out: status %d, want 403", r.Status)
	}
}

func TestConnectionEditUnknown(t *testing.T) {
	b := startUI(t)
	if r := b.get("/connections/missing/edit"); r.Status != http.StatusNotFound {
		t.Errorf("GET unknown edit: status %d, want 404", r.Status)
	}
	if r := b.post("/connections/missing", mysqlForm("missing")); r.Status != http.StatusNotFound {
		t.Errorf("POST unknown: status %d, want 404", r.Status)
	}
}

func TestConnectionPasswordAgainWarning(t *testing.T) {
	b := startUI(t)
	badPort := mysqlForm("retype")
	badPort.Set("port", "99999")
	r := b.post("/connections", badPort)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad port: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, `id="conn-password-again"`, "Enter the password again: it is not sent back to the browser.")
	mustHideSecret(t, testPassword, r)

	b.lang = "ja"
	r = b.post("/connections", badPort)
	mustContain(t, r.Body, `id="conn-password-again"`, "入力したパスワードはブラウザーに送り返さないため、もう一度入力してください。")
	mustHideSecret(t, testPassword, r)
	b.lang = "en"

	// Without a typed password there is nothing to type again.
	noPassword := mysqlForm("retype")
	noPassword.Set("port", "99999")
	noPassword.Set("password", "")
	mustNotContain(t, b.post("/connections", noPassword).Body, `id="conn-password-again"`)

	// An API rejection drops the password as well.
	b.post("/connections", mysqlForm("taken"))
	c := getConnection(t, b, "taken")
	rename := mysqlForm("retype")
	b.post("/connections", rename)
	rename.Set("name", "taken")
	r = b.post("/connections/"+getConnection(t, b, "retype").ID, rename)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("rename to a taken name: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, `id="conn-password-again"`)
	mustHideSecret(t, testPassword, r)
	if got := getConnection(t, b, "taken"); got.ID != c.ID {
		t.Errorf("connection taken is %s after the refused rename, want %s", got.ID, c.ID)
	}
}

func TestConnectionDuplicateNameLocalized(t *testing.T) {
	b := startUI(t)
	b.post("/connections", mysqlForm("dup"))
	b.post("/connections", mysqlForm("other"))
	b.lang = "ja"
	r := b.post("/connections", mysqlForm("dup"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate create: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, `<div class="field-error">`, "接続「dup」はすでにあります。別の名前にしてください。", "修正が必要な項目があります")
	mustNotContain(t, r.Body, "already exists", "コントロールプレーンからのメッセージ")

	b.lang = "en"
	rename := mysqlForm("dup")
	r = b.post("/connections/"+getConnection(t, b, "other").ID, rename)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate rename: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "A connection named &#34;dup&#34; already exists; pick another name.")
	if n := connectionCount(t, b); n != 2 {
		t.Errorf("%d connections stored, want 2", n)
	}
}
