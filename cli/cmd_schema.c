/*
 * orc8r schema [KIND] [-o text|json] - describe the repository format.
 *
 * Everything printed here comes from the tables in lib/repo/schema.c: the text
 * for humans (in the spirit of `kubectl explain`), the JSON Schema that
 * editors feed to yaml-language-server, and (hidden `-o man`) the
 * orc8r-yaml(5) page that the build installs.  Nothing in this file knows a
 * field by name.
 */
#include "cmds.h"

#include <argp.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "repo/schema.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { OUT_MAN = 100 };         /* hidden -o man, besides enum o8_out */

struct schema_args {
	const char *kind;
	int out;
};

static const char schema_doc[] =
	"Describe the YAML format of an orc8r repository: the kinds of "
	"documents, and every field of a kind's spec with its type, range, "
	"format, default and what it refers to."
	"\v"
	"Examples:\n"
	"  orc8r schema                  list the kinds\n"
	"  orc8r schema gateway          every field of a Gateway spec\n"
	"  orc8r schema subscriberset    how bulk subscriber lists work\n"
	"  orc8r schema -o json > .orc8r/schema.json\n"
	"                                JSON Schema (draft 2020-12) for editors\n"
	"  orc8r schema ENodeB -o json   the JSON Schema of ENodeB documents only\n"
	"\n"
	"Editors that use yaml-language-server (VS Code's YAML extension, "
	"neovim, ...) validate and complete as you type once a file starts "
	"with:\n"
	"  # yaml-language-server: $schema=../../.orc8r/schema.json\n"
	"\n"
	"KIND is case-insensitive and may be plural (gateways).  The full "
	"reference is man 5 orc8r-yaml.\n"
	"\n"
	"Exit status: 0 ok, 1 unknown kind, 64 usage error.";

static const struct argp_option schema_options[] = {
	{ "output", 'o', "FORMAT", 0,
	  "text (default) or json (a JSON Schema)", 0 },
	{ 0 }
};

static error_t schema_parse(int key, char *arg, struct argp_state *state)
{
	struct schema_args *a = state->input;

	switch (key) {
	case 'o':
		if (!strcmp(arg, "man")) {
			a->out = OUT_MAN;
			break;
		}
		a->out = o8_cli_parse_output(arg, false);
		if (a->out < 0)
			argp_error(state, "unknown output format '%s' (use text or json)",
				   arg);
		break;
	case ARGP_KEY_ARG:
		if (a->kind)
			argp_error(state, "too many arguments: give at most one KIND");
		a->kind = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers shared by every output                                     */

/* "a.b.c" -> "a.b"; "a[]" -> "a"; "a" -> "" (the spec itself). */
static void parent_of(const char *path, char *out, size_t outsz)
{
	size_t n = strlen(path);
	const char *dot;

	if (n >= 2 && !strcmp(path + n - 2, "[]")) {
		n -= 2;
	} else {
		dot = strrchr(path, '.');
		n = dot ? (size_t)(dot - path) : 0;
	}
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* Last component of a map path: "epc.ipBlock" -> "ipBlock". */
static const char *key_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

static bool is_items_row(const char *path)
{
	size_t n = strlen(path);

	return n >= 2 && !strcmp(path + n - 2, "[]");
}

static const struct o8_kind_schema *find_kind(const char *name)
{
	int k;

	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);

		if (!strcasecmp(ks->name, name) || !strcasecmp(ks->plural, name))
			return ks;
	}
	return NULL;
}

static bool has_range(const struct o8_field *f)
{
	return f->min != 0 || f->max != 0;
}

static bool is_integral(double v)
{
	return v == (double)(long long)v;
}

/* A number as an operator writes it: 503, 1.4, 4294967295. */
static void fmt_num(char *buf, size_t sz, double v)
{
	if (is_integral(v))
		snprintf(buf, sz, "%lld", (long long)v);
	else
		snprintf(buf, sz, "%g", v);
}

/*
 * The constraints of a field as short phrases ("range 0-503", "one of:
 * PERMIT, DENY").  Used by the text and man outputs so that they say the
 * same thing.
 */
struct phrases {
	char v[8][768];
	size_t n;
};

static void add_phrase(struct phrases *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_phrase(struct phrases *p, const char *fmt, ...)
{
	va_list ap;

	if (p->n == NELEM(p->v))
		return;
	va_start(ap, fmt);
	vsnprintf(p->v[p->n++], sizeof(p->v[0]), fmt, ap);
	va_end(ap);
}

static void join_enums(char *buf, size_t sz, const char *const *e)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *e && used < sz; e++) {
		int w = snprintf(buf + used, sz - used, "%s%s",
				 used ? ", " : "", *e);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static void constraints(const struct o8_field *f, struct phrases *p)
{
	char lo[32], hi[32], list[640];

	p->n = 0;
	if (has_range(f)) {
		fmt_num(lo, sizeof(lo), f->min);
		fmt_num(hi, sizeof(hi), f->max);
		switch (f->type) {
		case O8_T_INT:
		case O8_T_NUMBER:
			add_phrase(p, "range %s-%s", lo, hi);
			break;
		case O8_T_LIST:
			if (f->min == 0)
				add_phrase(p, "at most %s items", hi);
			else
				add_phrase(p, "%s-%s items", lo, hi);
			break;
		default:
			if (f->min == f->max)
				add_phrase(p, "exactly %s characters", hi);
			else if (f->min == 0)
				add_phrase(p, "at most %s characters", hi);
			else
				add_phrase(p, "%s-%s characters", lo, hi);
			break;
		}
	}
	if (f->fmt != O8_FMT_NONE)
		add_phrase(p, "%s%s", f->type == O8_T_DICT ? "values: " : "format: ",
			   o8_schema_fmt_doc(f->fmt));
	if (f->enums) {
		join_enums(list, sizeof(list), f->enums);
		add_phrase(p, "one of: %s", list);
	}
	if (f->ref != O8_KIND_NONE)
		add_phrase(p, "references: %s%s", o8_schema_kind(f->ref)->name,
			   f->ref == O8_KIND_ENODEB ? " (by spec.serial)"
						    : " (by metadata.name)");
	if (f->spec_of != O8_KIND_NONE)
		add_phrase(p, "fields: those of a %s spec (orc8r schema %s)",
			   o8_schema_kind(f->spec_of)->name,
			   o8_schema_kind(f->spec_of)->name);
	if (f->def)
		add_phrase(p, "default: %s", f->def);
}

/* "required, sensitive, unique in the repository" or "". */
static void flag_words(const struct o8_field *f, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s%s%s%s",
		 f->flags & O8_F_REQUIRED ? "required" : "",
		 f->flags & O8_F_SENSITIVE ?
			(f->flags & O8_F_REQUIRED ? ", sensitive" : "sensitive") : "",
		 f->flags & O8_F_UNIQUE_NET ?
			(f->flags & (O8_F_REQUIRED | O8_F_SENSITIVE) ?
				 ", unique in the network" : "unique in the network") : "",
		 f->flags & O8_F_UNIQUE_REPO ?
			(f->flags & (O8_F_REQUIRED | O8_F_SENSITIVE | O8_F_UNIQUE_NET) ?
				 ", unique in the repository" : "unique in the repository") : "");
}

/* ------------------------------------------------------------------ */
/* Text                                                               */

/* Prints text wrapped at width, every line starting with indent spaces. */
static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
	const char *p = text;
	int col = 0;

	while (*p) {
		const char *w = p;
		int n;

		while (*w == ' ')
			w++;
		n = (int)strcspn(w, " ");
		if (n == 0)
			break;
		if (col && col + 1 + n > width) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0) {
			fprintf(out, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', out);
			col++;
		}
		fwrite(w, 1, (size_t)n, out);
		col += n;
		p = w + n;
	}
	if (col)
		fputc('\n', out);
}

/* The first sentence of a kind's doc, for the list of kinds. */
static int first_sentence_len(const char *doc)
{
	const char *end = strstr(doc, ". ");

	return end ? (int)(end - doc) : (int)strlen(doc);
}

static void text_kinds(FILE *out, const struct o8_cli *cli)
{
	const char *b = cli->color ? "\033[1m" : "", *off = cli->color ? "\033[0m" : "";
	int k;

	fprintf(out, "%s%-14s %-15s %-9s %s%s\n", b, "KIND", "PLURAL", "SCOPE",
		"DESCRIPTION", off);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);

		fprintf(out, "%-14s %-15s %-9s %.*s\n", ks->name, ks->plural,
			ks->namespaced ? "network" : "repo",
			first_sentence_len(ks->doc), ks->doc);
	}
	fprintf(out,
		"\nEvery document has apiVersion: %s, kind, metadata (name; network for\n"
		"every kind but Network; labels) and spec.  'orc8r schema KIND' lists\n"
		"the fields of a kind's spec; 'orc8r schema -o json' prints a JSON\n"
		"Schema for editors; man 5 orc8r-yaml has the whole reference.\n",
		O8_API_VERSION);
}

static void text_kind(FILE *out, const struct o8_kind_schema *ks,
		      const struct o8_cli *cli)
{
	const char *b = cli->color ? "\033[1m" : "", *off = cli->color ? "\033[0m" : "";
	int width = 0;
	size_t i, j;

	for (i = 0; i < ks->nfields; i++) {
		int n = (int)strlen(ks->fields[i].path);

		if (n > width)
			width = n;
	}
	fprintf(out, "%sKIND:%s     %s\n", b, off, ks->name);
	fprintf(out, "%sVERSION:%s  %s\n", b, off, O8_API_VERSION);
	fprintf(out, "%sSCOPE:%s    %s\n\n", b, off,
		ks->namespaced ? "in a network (metadata.network is required)"
			       : "repository (metadata.network is not used)");
	fprintf(out, "%sDESCRIPTION:%s\n", b, off);
	print_wrapped(out, ks->doc, 4, 76);
	fprintf(out, "\n%sFIELDS%s (paths under spec; a dot enters a map, [] the items of a list):\n",
		b, off);
	for (i = 0; i < ks->nfields; i++) {
		const struct o8_field *f = &ks->fields[i];
		struct phrases ph;
		char tname[32], flags[128];

		snprintf(tname, sizeof(tname), "<%s>", o8_schema_type_name(f->type));
		flag_words(f, flags, sizeof(flags));
		if (flags[0])
			fprintf(out, "  %s%-*s%s  %-10s %s\n", b, width, f->path,
				off, tname, flags);
		else
			fprintf(out, "  %s%-*s%s  %s\n", b, width, f->path, off,
				tname);
		print_wrapped(out, f->doc, 6, 78);
		constraints(f, &ph);
		for (j = 0; j < ph.n; j++)
			print_wrapped(out, ph.v[j], 6, 78);
	}
	fprintf(out, "\n%sEXAMPLE:%s\n", b, off);
	for (const char *p = ks->example; *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(out, "    %.*s\n", (int)n, p);
		p += n;
		if (*p)
			p++;
	}
}

/* ------------------------------------------------------------------ */
/* JSON Schema                                                        */

/*
 * Regular expressions equivalent to o8_schema_fmt_ok, for editors.  The
 * C checks stay the reference; test_schema keeps the two in step only by
 * review, so keep them next to each other when a format changes.
 */
#define RE_OCTET "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define RE_IPV4 RE_OCTET "\\." RE_OCTET "\\." RE_OCTET "\\." RE_OCTET

static const char *fmt_pattern(enum o8_fmt f)
{
	switch (f) {
	case O8_FMT_NAME: return "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
	case O8_FMT_IMSI: return "^(IMSI)?[0-9]{10,15}$";
	case O8_FMT_MCC: return "^[0-9]{3}$";
	case O8_FMT_MNC: return "^[0-9]{2,3}$";
	case O8_FMT_IPV4: return "^" RE_IPV4 "$";
	case O8_FMT_CIDR4: return "^" RE_IPV4 "/(3[0-2]|[12]?[0-9])$";
	case O8_FMT_HEX32: return "^[0-9A-Fa-f]{32}$";
	case O8_FMT_UUID:
		return "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
		       "[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";
	case O8_FMT_SERIAL: return "^[!-~]{1,64}$";
	case O8_FMT_HEX: return "^([0-9A-Fa-f]{2})+$";
	case O8_FMT_DURATION: return "^[0-9]+[smh]$";
	case O8_FMT_APN:
		return "^(?=.{1,100}$)[A-Za-z0-9]([-_A-Za-z0-9]*[A-Za-z0-9])?"
		       "(\\.[A-Za-z0-9]([-_A-Za-z0-9]*[A-Za-z0-9])?)*$";
	case O8_FMT_NONE:
	case O8_FMT__COUNT:
		break;
	}
	return NULL;
}

static json_t *num_json(double v, bool integer)
{
	if (integer || is_integral(v))
		return json_integer((json_int_t)v);
	return json_real(v);
}

/* A default given as YAML text, typed for JSON. */
static json_t *def_json(const struct o8_field *f)
{
	switch (f->type) {
	case O8_T_INT:
		return json_integer(strtoll(f->def, NULL, 10));
	case O8_T_NUMBER:
		return num_json(strtod(f->def, NULL), false);
	case O8_T_BOOL:
		return json_boolean(!strcmp(f->def, "true"));
	default:
		return json_string(f->def);
	}
}

static void set_new(json_t *obj, const char *key, json_t *v)
{
	json_object_set_new(obj, key, v);
}

static json_t *object_schema(const struct o8_kind_schema *ks,
			     const char *prefix, bool defaults);

static json_t *field_schema(const struct o8_kind_schema *ks,
			    const struct o8_field *f, bool defaults)
{
	json_t *s = json_object(), *arr;
	char ref[96], desc[1024];
	const struct o8_field *items;
	const char *pat;
	const char *const *e;

	switch (f->type) {
	case O8_T_STRING:
		set_new(s, "type", json_string("string"));
		if (has_range(f)) {
			set_new(s, "minLength", json_integer((json_int_t)f->min));
			set_new(s, "maxLength", json_integer((json_int_t)f->max));
		}
		pat = fmt_pattern(f->fmt);
		if (pat)
			set_new(s, "pattern", json_string(pat));
		if (f->fmt == O8_FMT_IPV4)
			set_new(s, "format", json_string("ipv4"));
		else if (f->fmt == O8_FMT_UUID)
			set_new(s, "format", json_string("uuid"));
		break;
	case O8_T_INT:
	case O8_T_NUMBER:
		set_new(s, "type", json_string(f->type == O8_T_INT ? "integer" : "number"));
		if (has_range(f)) {
			set_new(s, "minimum", num_json(f->min, f->type == O8_T_INT));
			set_new(s, "maximum", num_json(f->max, f->type == O8_T_INT));
		}
		if (f->enums) {
			arr = json_array();
			for (e = f->enums; *e; e++)
				json_array_append_new(arr, num_json(strtod(*e, NULL), false));
			set_new(s, "enum", arr);
		}
		break;
	case O8_T_BOOL:
		set_new(s, "type", json_string("boolean"));
		break;
	case O8_T_ENUM:
		set_new(s, "type", json_string("string"));
		arr = json_array();
		for (e = f->enums; e && *e; e++)
			json_array_append_new(arr, json_string(*e));
		set_new(s, "enum", arr);
		break;
	case O8_T_OBJECT:
		json_decref(s);
		if (f->spec_of != O8_KIND_NONE) {
			/* defaults of a set: no field is required there */
			bool d = !is_items_row(f->path);

			s = json_object();
			snprintf(ref, sizeof(ref), "#/$defs/%sSpec%s",
				 o8_schema_kind(f->spec_of)->name, d ? "Defaults" : "");
			set_new(s, "$ref", json_string(ref));
		} else {
			s = object_schema(ks, f->path, defaults);
		}
		break;
	case O8_T_LIST:
		set_new(s, "type", json_string("array"));
		if (has_range(f)) {
			set_new(s, "minItems", json_integer((json_int_t)f->min));
			set_new(s, "maxItems", json_integer((json_int_t)f->max));
		}
		snprintf(ref, sizeof(ref), "%s[]", f->path);
		items = o8_schema_field(ks, ref);
		if (items)
			set_new(s, "items", field_schema(ks, items, defaults));
		break;
	case O8_T_DICT:
		set_new(s, "type", json_string("object"));
		if (f->fmt != O8_FMT_NONE) {
			json_t *v = json_object();

			set_new(v, "type", json_string("string"));
			pat = fmt_pattern(f->fmt);
			if (pat)
				set_new(v, "pattern", json_string(pat));
			set_new(s, "additionalProperties", v);
		} else {
			json_t *v = json_object();

			set_new(v, "type", json_pack("[sss]", "string", "number", "boolean"));
			set_new(s, "additionalProperties", v);
		}
		break;
	}
	if (f->ref != O8_KIND_NONE)
		snprintf(desc, sizeof(desc), "%s (a %s%s)", f->doc,
			 o8_schema_kind(f->ref)->name,
			 f->ref == O8_KIND_ENODEB ? " serial" : " name");
	else
		snprintf(desc, sizeof(desc), "%s", f->doc);
	set_new(s, "description", json_string(desc));
	if (f->def)
		set_new(s, "default", def_json(f));
	if (f->flags & O8_F_SENSITIVE)
		set_new(s, "writeOnly", json_true());
	return s;
}

/* The object whose rows sit right below prefix ("" for spec itself). */
static json_t *object_schema(const struct o8_kind_schema *ks,
			     const char *prefix, bool defaults)
{
	json_t *s = json_object(), *props = json_object(), *req = json_array();
	char parent[256];
	size_t i;

	for (i = 0; i < ks->nfields; i++) {
		const struct o8_field *f = &ks->fields[i];

		if (is_items_row(f->path))
			continue;
		parent_of(f->path, parent, sizeof(parent));
		if (strcmp(parent, prefix))
			continue;
		set_new(props, key_of(f->path), field_schema(ks, f, defaults));
		if ((f->flags & O8_F_REQUIRED) && !defaults)
			json_array_append_new(req, json_string(key_of(f->path)));
	}
	set_new(s, "type", json_string("object"));
	set_new(s, "additionalProperties", json_false());
	set_new(s, "properties", props);
	if (json_array_size(req))
		set_new(s, "required", req);
	else
		json_decref(req);
	return s;
}

static json_t *metadata_schema(void)
{
	json_t *m = json_object(), *p = json_object(), *labels = json_object(),
	       *lv = json_object();

	/* the name's pattern depends on the kind: kind_constraints */
	set_new(p, "name", json_pack("{s:s,s:i,s:i,s:s}", "type", "string",
				      "minLength", 1, "maxLength", 100,
				      "description",
				      "name of the object, unique per kind and network"));
	set_new(p, "network", json_pack("{s:s,s:i,s:i,s:s,s:s}", "type", "string",
					 "minLength", 1, "maxLength", 63,
					 "pattern", fmt_pattern(O8_FMT_NAME),
					 "description",
					 "metadata.name of the Network this object belongs to"));
	set_new(lv, "type", json_pack("[sss]", "string", "number", "boolean"));
	set_new(labels, "type", json_string("object"));
	set_new(labels, "additionalProperties", lv);
	set_new(labels, "description",
		json_string("free key/value pairs to select objects (sites, rollout waves)"));
	set_new(p, "labels", labels);
	set_new(p, "annotations", json_pack("{s:s,s:{s:[sss]},s:s}", "type", "object",
					     "additionalProperties", "type",
					     "string", "number", "boolean",
					     "description",
					     "free notes for people and tools; orc8r ignores them"));
	set_new(m, "type", json_string("object"));
	set_new(m, "additionalProperties", json_false());
	set_new(m, "properties", p);
	set_new(m, "required", json_pack("[s]", "name"));
	return m;
}

/* What a document of kind ks adds to the common shape. */
static json_t *kind_constraints(const struct o8_kind_schema *ks)
{
	json_t *t = json_object(), *props = json_object();
	char ref[96];

	enum o8_fmt nf = o8_schema_name_fmt(ks);
	json_t *meta = json_object();

	snprintf(ref, sizeof(ref), "#/$defs/%sSpec", ks->name);
	set_new(props, "spec", json_pack("{s:s}", "$ref", ref));
	/* the validator checks metadata.name with the kind's format */
	set_new(meta, "properties", json_pack("{s:{s:s,s:i}}", "name", "pattern",
					      fmt_pattern(nf), "maxLength",
					      nf == O8_FMT_NAME ? 63 : 100));
	if (ks->namespaced)
		set_new(meta, "required", json_pack("[s]", "network"));
	set_new(props, "metadata", meta);
	set_new(t, "properties", props);
	return t;
}

static json_t *json_schema(const struct o8_kind_schema *only)
{
	json_t *root = json_object(), *props = json_object(), *defs = json_object(),
	       *kinds = json_array(), *all = json_array();
	bool need[O8_KIND__COUNT] = { false }, need_defaults[O8_KIND__COUNT] = { false };
	char title[160], name[96];
	int k;
	size_t i;

	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);

		if (only && only != ks)
			continue;
		need[k] = true;
		for (i = 0; i < ks->nfields; i++) {
			enum o8_kind so = ks->fields[i].spec_of;

			if (so == O8_KIND_NONE)
				continue;
			need[so] = true;
			if (!is_items_row(ks->fields[i].path))
				need_defaults[so] = true;
		}
	}

	set_new(root, "$schema", json_string("https://json-schema.org/draft/2020-12/schema"));
	snprintf(title, sizeof(title), "orc8r %s document (apiVersion %s)",
		 only ? only->name : "repository", O8_API_VERSION);
	set_new(root, "title", json_string(title));
	set_new(root, "description",
		json_string(only ? only->doc :
			    "One YAML document of an orc8r repository "
			    "(see man 5 orc8r-yaml)."));
	set_new(root, "type", json_string("object"));
	set_new(root, "required", json_pack("[ssss]", "apiVersion", "kind",
					    "metadata", "spec"));
	set_new(root, "additionalProperties", json_false());

	set_new(props, "apiVersion", json_pack("{s:s}", "const", O8_API_VERSION));
	if (only) {
		set_new(props, "kind", json_pack("{s:s}", "const", only->name));
		set_new(props, "metadata", json_pack("{s:s}", "$ref", "#/$defs/Metadata"));
		snprintf(name, sizeof(name), "#/$defs/%sSpec", only->name);
		set_new(props, "spec", json_pack("{s:s}", "$ref", name));
		set_new(root, "allOf", json_pack("[o]", kind_constraints(only)));
		json_decref(kinds);
		json_decref(all);
	} else {
		for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
			const struct o8_kind_schema *ks = o8_schema_kind(k);
			json_t *branch = json_object();

			json_array_append_new(kinds, json_string(ks->name));
			set_new(branch, "if", json_pack("{s:{s:{s:s}},s:[s]}",
							"properties", "kind",
							"const", ks->name,
							"required", "kind"));
			set_new(branch, "then", kind_constraints(ks));
			json_array_append_new(all, branch);
		}
		set_new(props, "kind", json_pack("{s:o,s:s}", "enum", kinds,
						  "description", "what the document describes"));
		set_new(props, "metadata", json_pack("{s:s}", "$ref", "#/$defs/Metadata"));
		set_new(props, "spec", json_pack("{s:s}", "type", "object"));
		set_new(root, "allOf", all);
	}
	set_new(root, "properties", props);

	set_new(defs, "Metadata", metadata_schema());
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);
		json_t *spec;

		if (need[k]) {
			spec = object_schema(ks, "", false);
			set_new(spec, "description", json_string(ks->doc));
			snprintf(name, sizeof(name), "%sSpec", ks->name);
			set_new(defs, name, spec);
		}
		if (need_defaults[k]) {
			spec = object_schema(ks, "", true);
			set_new(spec, "description",
				json_string("the same fields, none of them required"));
			snprintf(name, sizeof(name), "%sSpecDefaults", ks->name);
			set_new(defs, name, spec);
		}
	}
	set_new(root, "$defs", defs);
	return root;
}

/* ------------------------------------------------------------------ */
/* orc8r-yaml(5)                                                      */

/*
 * Writes s as roff text: backslashes escaped, '-' as \- where code is
 * meant (so that it copies as ASCII), and \& before a leading '.' or '\''
 * that roff would otherwise take for a request.
 */
static void roff(FILE *out, const char *s, size_t n, bool code)
{
	size_t i;

	if (n && (s[0] == '.' || s[0] == '\''))
		fputs("\\&", out);
	for (i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", out);
		else if (s[i] == '-' && code)
			fputs("\\-", out);
		else
			fputc(s[i], out);
	}
}

static void roffs(FILE *out, const char *s, bool code)
{
	roff(out, s, strlen(s), code);
}

/* A paragraph, one sentence per line as roff wants it (sentence spacing). */
static void roff_prose(FILE *out, const char *text)
{
	while (*text) {
		const char *end = strstr(text, ". ");
		size_t n = end ? (size_t)(end - text) + 1 : strlen(text);

		roff(out, text, n, false);
		fputc('\n', out);
		text += n;
		while (*text == ' ')
			text++;
	}
}

/* A block of literal lines (YAML), indented. */
static void roff_block(FILE *out, const char *text)
{
	fputs(".PP\n.RS 4\n.nf\n", out);
	while (*text) {
		size_t n = strcspn(text, "\n");

		roff(out, text, n, true);
		fputc('\n', out);
		text += n;
		if (*text)
			text++;
	}
	fputs(".fi\n.RE\n", out);
}

static void man_field(FILE *out, const struct o8_field *f)
{
	struct phrases ph;
	char flags[128];
	size_t j;

	fputs(".TP\n.B \\%", out);
	roffs(out, f->path, true);
	fputc('\n', out);
	flag_words(f, flags, sizeof(flags));
	fprintf(out, "(%s%s%s)\n", o8_schema_type_name(f->type),
		flags[0] ? ", " : "", flags);
	roffs(out, f->doc, false);
	fputs(".\n", out);
	constraints(f, &ph);
	for (j = 0; j < ph.n; j++) {
		fputs(".br\n", out);
		roffs(out, ph.v[j], true);
		fputc('\n', out);
	}
}

static void man_page(FILE *out)
{
	int k;
	size_t i;
	enum o8_type t;
	enum o8_fmt f;

	fputs(".\\\" orc8r-yaml(5), generated by 'orc8r schema -o man' from the schema\n"
	      ".\\\" tables in lib/repo/schema.c.  Do not edit: change the tables instead.\n",
	      out);
	fprintf(out, ".TH ORC8R-YAML 5 \"\" \"%s\" \"File Formats Manual\"\n",
		o8_cli_version);
	/* field paths are long words: never hyphenate them, nor stretch lines */
	fputs(".nh\n.ad l\n", out);
	fputs(".SH NAME\n"
	      "orc8r-yaml \\- format of the YAML files of an orc8r repository\n"
	      ".SH SYNOPSIS\n"
	      ".nf\n"
	      "\\fIrepository\\fR/.orc8r/config.yaml\n"
	      "\\fIrepository\\fR/\\fIdir\\fR/\\fIfile\\fR.yaml\n"
	      ".fi\n"
	      ".SH DESCRIPTION\n"
	      "An orc8r repository is a git repository that describes private LTE\n"
	      "networks the way Magma's Orchestrator does: networks, Access Gateways,\n"
	      "eNodeBs, APNs, policy rules, subscribers and upgrade tiers.\n"
	      "Every file ending in\n"
	      ".I .yaml\n"
	      "or\n"
	      ".I .yml\n"
	      "below the root holds one or more YAML documents separated by\n"
	      ".B \\-\\-\\-\n"
	      "lines; directories whose name starts with a dot (such as\n"
	      ".I .git\n"
	      "and\n"
	      ".IR .orc8r )\n"
	      "are skipped, and how files are split into directories is up to the\n"
	      "operator.\n"
	      "Each document describes one object in the shape known from Kubernetes:\n",
	      out);
	roff_block(out,
		   "apiVersion: orc8r/v1\n"
		   "kind: Gateway\n"
		   "metadata:\n"
		   "  name: agw-berlin-1\n"
		   "  network: lab\n"
		   "  labels: {site: berlin, wave: canary}\n"
		   "spec:\n"
		   "  hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a\n"
		   "  ...\n");
	fputs(".TP\n.B apiVersion\n", out);
	fprintf(out, "Always\n.BR %s .\n", O8_API_VERSION);
	fputs(".TP\n.B kind\nOne of\n", out);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++)
		fprintf(out, "%s%s\n", o8_schema_kind(k)->name,
			k == O8_KIND__COUNT - 1 ? "." : ",");
	fputs(".TP\n.B metadata.name\n"
	      "Name of the object, unique per kind and network.\n"
	      "References between objects use it (the one exception: gateways list\n"
	      "eNodeBs by serial).\n"
	      ".TP\n.B metadata.network\n"
	      "Name of the Network the object belongs to; required for every kind\n"
	      "but Network.\n"
	      ".TP\n.B metadata.labels\n"
	      "Free key/value pairs to select objects by, such as sites and rollout\n"
	      "waves.\n"
	      ".TP\n.B spec\n"
	      "The object itself.\n"
	      "Its fields depend on the kind and are listed under\n"
	      ".B KINDS\n"
	      "below.\n"
	      ".PP\n"
	      "Field names follow Magma's LTE API in camelCase.\n"
	      "A field path such as\n"
	      ".B \\%flows[].match.ipProto\n"
	      "is relative to\n"
	      ".BR spec :\n"
	      "a dot enters a map and\n"
	      ".B []\n"
	      "stands for each item of a list.\n"
	      "A required field inside an optional map is required only when the\n"
	      "map is present.\n"
	      "Unknown fields are errors, so that a misspelt field is never silently\n"
	      "ignored.\n"
	      ".PP\n"
	      "Sensitive fields (SIM keys) are never printed by orc8r: plans and\n"
	      "logs show them as (sensitive).\n"
	      ".PP\n"
	      "The same description is available as text from\n"
	      ".B orc8r schema\n"
	      ".I KIND\n"
	      "and as a JSON Schema for editors from\n"
	      ".BR \"orc8r schema \\-o json\" .\n"
	      ".SS Types\n",
	      out);
	for (t = O8_T_STRING; t <= O8_T_DICT; t++) {
		static const char *const what[] = {
			[O8_T_STRING] = "Text; quote values that YAML would read as numbers (\"001\").",
			[O8_T_INT] = "A whole number.",
			[O8_T_NUMBER] = "A whole or decimal number.",
			[O8_T_BOOL] = "true or false.",
			[O8_T_ENUM] = "One of the listed words, spelt exactly.",
			[O8_T_OBJECT] = "A map with the fields listed below it.",
			[O8_T_LIST] = "A sequence; the path[] entry describes its items.",
			[O8_T_DICT] = "A map of free keys to text values.",
		};

		fprintf(out, ".TP\n.B %s\n%s\n", o8_schema_type_name(t), what[t]);
	}
	fputs(".SS Formats\n", out);
	for (f = O8_FMT_NONE + 1; f < O8_FMT__COUNT; f++) {
		static const char *const name[] = {
			[O8_FMT_NAME] = "name", [O8_FMT_IMSI] = "IMSI",
			[O8_FMT_MCC] = "MCC", [O8_FMT_MNC] = "MNC",
			[O8_FMT_IPV4] = "IPv4 address", [O8_FMT_CIDR4] = "IPv4 block",
			[O8_FMT_HEX32] = "128-bit key", [O8_FMT_UUID] = "UUID",
			[O8_FMT_SERIAL] = "serial number", [O8_FMT_HEX] = "hex",
			[O8_FMT_DURATION] = "duration", [O8_FMT_APN] = "APN name",
		};

		fputs(".TP\n.B ", out);
		roffs(out, name[f], true);
		fputc('\n', out);
		roffs(out, o8_schema_fmt_doc(f), true);
		fputs(".\n", out);
	}

	fputs(".SH KINDS\n", out);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);

		fprintf(out, ".SS %s\n", ks->name);
		roff_prose(out, ks->doc);
		fprintf(out, ".PP\n%s; counted as\n.BR %s .\n",
			ks->namespaced ? "Belongs to a network (metadata.network)"
				       : "Defines a network (no metadata.network)",
			ks->plural);
		fputs(".PP\nFields of\n.BR spec :\n", out);
		for (i = 0; i < ks->nfields; i++)
			man_field(out, &ks->fields[i]);
	}

	fputs(".SH EXAMPLES\n", out);
	fputs("One document of each kind, all of the same network\n"
	      ".BR lab ;\n"
	      ".B orc8r init\n"
	      "writes a complete repository to start from.\n", out);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);

		fprintf(out, ".SS %s\n", ks->name);
		roff_block(out, ks->example);
	}
	fputs(".SH SEE ALSO\n"
	      ".BR orc8r (1)\n", out);
}

/* ------------------------------------------------------------------ */

int cmd_schema(int argc, char **argv, struct o8_cli *cli)
{
	static const struct argp argp = {
		schema_options, schema_parse, "[KIND]", schema_doc,
		NULL, NULL, NULL
	};
	struct schema_args a = { NULL, O8_OUT_TEXT };
	const struct o8_kind_schema *ks = NULL;
	char name[] = "orc8r schema";
	char **av;
	int k;

	/* argp names the program after argv[0]: make it say "orc8r schema" */
	av = calloc((size_t)argc + 1, sizeof(*av));
	if (!av) {
		o8_cli_errorf("out of memory");
		return O8_EXIT_FAIL;
	}
	memcpy(av, argv, (size_t)argc * sizeof(*av));
	av[0] = name;
	argp_parse(&argp, argc, av, 0, NULL, &a);
	free(av);

	if (a.kind) {
		ks = find_kind(a.kind);
		if (!ks) {
			char list[256] = "";
			size_t used = 0;

			for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++)
				used += (size_t)snprintf(list + used, sizeof(list) - used,
							 "%s%s", used ? ", " : "",
							 o8_schema_kind(k)->name);
			o8_cli_errorf("unknown kind '%s' (kinds: %s)", a.kind, list);
			return O8_EXIT_FAIL;
		}
	}

	switch (a.out) {
	case OUT_MAN:
		man_page(stdout);
		break;
	case O8_OUT_JSON: {
		json_t *doc = json_schema(ks);
		int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		json_decref(doc);
		if (rc) {
			o8_cli_errorf("cannot write the JSON Schema");
			return O8_EXIT_FAIL;
		}
		fputc('\n', stdout);
		break;
	}
	default:
		if (ks)
			text_kind(stdout, ks, cli);
		else
			text_kinds(stdout, cli);
		break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		o8_cli_errorf("cannot write to standard output");
		return O8_EXIT_FAIL;
	}
	return O8_EXIT_OK;
}
