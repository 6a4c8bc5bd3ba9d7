/* SPDX-License-Identifier: MIT */
/*
 * libcurl, libarchive and avro-c, loaded on first use.
 *
 * Linked the usual way they come with TLS, Kerberos, LDAP, libxml2, ICU and
 * the C++ runtime: 5.5 MiB of every tool's resident memory, before it does
 * anything, although kcat-lite needs none of them unless asked for a schema
 * registry or Avro, and only sc-fetch and sc-logs read or write archives.
 * So the library is not linked against them: this file defines the
 * functions of theirs that the library calls, under their own names (hidden,
 * so they never interpose on anyone), and each forwards to the real one,
 * which the first call into that library resolves with dlopen() by the
 * SONAME configure found. Their headers still declare every prototype, so the
 * compiler checks each definition here against the library's own.
 *
 * An entry point that is about to use a library first calls co_lazy_need(),
 * which says why it cannot be loaded; a forwarder called all the same
 * returns the library's own failure value (NULL, an error code).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include <archive.h>
#include <archive_entry.h>
#include <avro.h>

#include "internal.h"

/*
 * The functions of each library, one line each:
 *   F(return type, name, (parameters), (arguments), value if not loaded)
 *   D(...)	the same, for one that frees: it never loads the library,
 *		as nothing of a library not yet loaded can exist to be freed
 *   V(name, (parameters), (arguments))	for those returning void, which
 *		take an object of the library and so do not load it either
 *   P(name)	forwarded by hand below (variadic)
 */
#define CURL_FUNCS(F, D, V, P) \
	F(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT) \
	V(curl_global_cleanup, (void), ()) \
	F(CURL *, curl_easy_init, (void), (), NULL) \
	V(curl_easy_cleanup, (CURL *h), (h)) \
	V(curl_easy_reset, (CURL *h), (h)) \
	F(CURLcode, curl_easy_perform, (CURL *h), (h), CURLE_FAILED_INIT) \
	F(const char *, curl_easy_strerror, (CURLcode c), (c), "libcurl not loaded") \
	F(char *, curl_easy_escape, (CURL *h, const char *s, int n), (h, s, n), NULL) \
	V(curl_free, (void *p), (p)) \
	F(struct curl_slist *, curl_slist_append, (struct curl_slist *l, const char *s), \
	  (l, s), NULL) \
	V(curl_slist_free_all, (struct curl_slist *l), (l)) \
	F(CURLM *, curl_multi_init, (void), (), NULL) \
	D(CURLMcode, curl_multi_cleanup, (CURLM *m), (m), CURLM_BAD_HANDLE) \
	F(CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *h), (m, h), CURLM_BAD_HANDLE) \
	F(CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *h), (m, h), CURLM_BAD_HANDLE) \
	F(CURLMcode, curl_multi_perform, (CURLM *m, int *running), (m, running), \
	  CURLM_BAD_HANDLE) \
	F(CURLMcode, curl_multi_poll, (CURLM *m, struct curl_waitfd extra[], unsigned int n, \
	  int timeout_ms, int *ret), (m, extra, n, timeout_ms, ret), CURLM_BAD_HANDLE) \
	F(CURLMcode, curl_multi_wakeup, (CURLM *m), (m), CURLM_BAD_HANDLE) \
	F(CURLMsg *, curl_multi_info_read, (CURLM *m, int *left), (m, left), NULL) \
	F(CURLU *, curl_url, (void), (), NULL) \
	V(curl_url_cleanup, (CURLU *u), (u)) \
	F(CURLUcode, curl_url_get, (CURLU *u, CURLUPart what, char **part, unsigned int flags), \
	  (u, what, part, flags), CURLUE_OUT_OF_MEMORY) \
	F(CURLUcode, curl_url_set, (CURLU *u, CURLUPart what, const char *part, \
	  unsigned int flags), (u, what, part, flags), CURLUE_OUT_OF_MEMORY) \
	P(curl_easy_setopt) \
	P(curl_easy_getinfo)

#define ARCHIVE_FUNCS(F, D, V, P) \
	F(struct archive *, archive_read_new, (void), (), NULL) \
	D(int, archive_read_free, (struct archive *a), (a), ARCHIVE_OK) \
	F(int, archive_read_support_filter_bzip2, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_support_filter_gzip, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_support_filter_xz, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_support_filter_zstd, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_support_format_tar, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_support_format_zip, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_read_open_filename, (struct archive *a, const char *path, size_t block), \
	  (a, path, block), ARCHIVE_FATAL) \
	F(int, archive_read_open_memory, (struct archive *a, const void *buf, size_t n), \
	  (a, buf, n), ARCHIVE_FATAL) \
	F(int, archive_read_open_fd, (struct archive *a, int fd, size_t block), (a, fd, block), \
	  ARCHIVE_FATAL) \
	F(int, archive_read_next_header, (struct archive *a, struct archive_entry **e), (a, e), \
	  ARCHIVE_FATAL) \
	F(la_ssize_t, archive_read_data, (struct archive *a, void *buf, size_t n), (a, buf, n), \
	  ARCHIVE_FATAL) \
	F(int, archive_read_data_block, (struct archive *a, const void **buf, size_t *n, \
	  la_int64_t *offset), (a, buf, n, offset), ARCHIVE_FATAL) \
	F(struct archive *, archive_write_new, (void), (), NULL) \
	F(struct archive *, archive_write_disk_new, (void), (), NULL) \
	F(int, archive_write_disk_set_options, (struct archive *a, int flags), (a, flags), \
	  ARCHIVE_FATAL) \
	D(int, archive_write_free, (struct archive *a), (a), ARCHIVE_OK) \
	F(int, archive_write_close, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_add_filter_bzip2, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_add_filter_gzip, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_add_filter_xz, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_add_filter_zstd, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_set_format_pax_restricted, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_set_format_zip, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_write_open_fd, (struct archive *a, int fd), (a, fd), ARCHIVE_FATAL) \
	F(int, archive_write_header, (struct archive *a, struct archive_entry *e), (a, e), \
	  ARCHIVE_FATAL) \
	F(la_ssize_t, archive_write_data, (struct archive *a, const void *buf, size_t n), \
	  (a, buf, n), ARCHIVE_FATAL) \
	F(la_ssize_t, archive_write_data_block, (struct archive *a, const void *buf, size_t n, \
	  la_int64_t offset), (a, buf, n, offset), ARCHIVE_FATAL) \
	F(int, archive_write_finish_entry, (struct archive *a), (a), ARCHIVE_FATAL) \
	F(int, archive_errno, (struct archive *a), (a), ENOSYS) \
	F(const char *, archive_error_string, (struct archive *a), (a), "libarchive not loaded") \
	F(struct archive_entry *, archive_entry_new, (void), (), NULL) \
	V(archive_entry_free, (struct archive_entry *e), (e)) \
	F(const char *, archive_entry_pathname, (struct archive_entry *e), (e), NULL) \
	F(const char *, archive_entry_hardlink, (struct archive_entry *e), (e), NULL) \
	F(const char *, archive_entry_symlink, (struct archive_entry *e), (e), NULL) \
	F(__LA_MODE_T, archive_entry_filetype, (struct archive_entry *e), (e), 0) \
	F(__LA_MODE_T, archive_entry_perm, (struct archive_entry *e), (e), 0) \
	F(la_int64_t, archive_entry_size, (struct archive_entry *e), (e), 0) \
	F(int, archive_entry_size_is_set, (struct archive_entry *e), (e), 0) \
	F(time_t, archive_entry_mtime, (struct archive_entry *e), (e), 0) \
	V(archive_entry_copy_pathname, (struct archive_entry *e, const char *s), (e, s)) \
	V(archive_entry_copy_hardlink, (struct archive_entry *e, const char *s), (e, s)) \
	V(archive_entry_set_pathname, (struct archive_entry *e, const char *s), (e, s)) \
	V(archive_entry_set_filetype, (struct archive_entry *e, unsigned int t), (e, t)) \
	V(archive_entry_set_perm, (struct archive_entry *e, __LA_MODE_T m), (e, m)) \
	V(archive_entry_set_size, (struct archive_entry *e, la_int64_t n), (e, n)) \
	V(archive_entry_set_mtime, (struct archive_entry *e, time_t t, long ns), (e, t, ns))

#define AVRO_FUNCS(F, D, V, P) \
	F(const char *, avro_strerror, (void), (), "avro-c not loaded") \
	F(int, avro_schema_from_json_length, (const char *json, size_t n, avro_schema_t *s), \
	  (json, n, s), EINVAL) \
	D(int, avro_schema_decref, (avro_schema_t s), (s), 0) \
	F(const char *, avro_schema_name, (const avro_schema_t s), (s), NULL) \
	F(avro_schema_t, avro_schema_link_target, (avro_schema_t s), (s), NULL) \
	F(avro_schema_t, avro_schema_array_items, (avro_schema_t s), (s), NULL) \
	F(avro_schema_t, avro_schema_map_values, (avro_schema_t s), (s), NULL) \
	F(size_t, avro_schema_record_size, (const avro_schema_t s), (s), 0) \
	F(avro_schema_t, avro_schema_record_field_get_by_index, (const avro_schema_t s, \
	  int i), (s, i), NULL) \
	F(size_t, avro_schema_union_size, (const avro_schema_t s), (s), 0) \
	F(avro_schema_t, avro_schema_union_branch, (avro_schema_t s, int i), (s, i), NULL) \
	F(int, avro_schema_enum_number_of_symbols, (const avro_schema_t s), (s), 0) \
	F(int64_t, avro_schema_fixed_size, (const avro_schema_t s), (s), -1) \
	F(avro_value_iface_t *, avro_generic_class_from_schema, (avro_schema_t s), (s), NULL) \
	F(int, avro_generic_value_new, (avro_value_iface_t *c, avro_value_t *v), (c, v), \
	  ENOMEM) \
	V(avro_value_decref, (avro_value_t *v), (v)) \
	F(int, avro_value_read, (avro_reader_t r, avro_value_t *v), (r, v), EINVAL) \
	F(int, avro_value_to_json, (const avro_value_t *v, int one_line, char **json), \
	  (v, one_line, json), ENOMEM) \
	F(avro_reader_t, avro_reader_memory, (const char *buf, int64_t n), (buf, n), NULL) \
	V(avro_reader_free, (avro_reader_t r), (r))

/* What each library's functions are in this process once loaded. */
#define POINTER(ret, name, params, args, fail) __typeof__(name) *name;
#define POINTER_V(name, params, args) __typeof__(name) *name;
#define POINTER_P(name) __typeof__(name) *name;
static struct {
	CURL_FUNCS(POINTER, POINTER, POINTER_V, POINTER_P)
} curl_fn;
static struct {
	ARCHIVE_FUNCS(POINTER, POINTER, POINTER_V, POINTER_P)
} archive_fn;
static struct {
	AVRO_FUNCS(POINTER, POINTER, POINTER_V, POINTER_P)
} avro_fn;

struct lazy_lib {
	const char *soname;
	pthread_once_t once;
	bool loaded;
	char error[512];	/* why it is not, once tried */
};

static struct lazy_lib libs[] = {
	[CO_LAZY_CURL] = { CO_SONAME_CURL, PTHREAD_ONCE_INIT, false, "" },
	[CO_LAZY_ARCHIVE] = { CO_SONAME_ARCHIVE, PTHREAD_ONCE_INIT, false, "" },
	[CO_LAZY_AVRO] = { CO_SONAME_AVRO, PTHREAD_ONCE_INIT, false, "" },
};

/* false, with the loader's reason, when the library cannot be loaded. */
static bool lazy_open(struct lazy_lib *lib, void **handle)
{
	/* RTLD_LOCAL: its symbols stay out of the process's global scope. */
	*handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!*handle) {
		snprintf(lib->error, sizeof lib->error, "%s", dlerror());
		return false;
	}
	return true;
}

static bool lazy_sym(struct lazy_lib *lib, void *handle, const char *name, void **fn)
{
	*fn = dlsym(handle, name);
	if (!*fn)
		snprintf(lib->error, sizeof lib->error, "%s has no %s", lib->soname, name);
	return *fn != NULL;
}

/* Loaded by now (for what takes an object of the library), without loading it. */
static bool is_loaded(enum co_lazy_lib id)
{
	return __atomic_load_n(&libs[id].loaded, __ATOMIC_ACQUIRE);
}

/*
 * Per library, a loader (pthread_once() takes a function of no arguments)
 * that opens it and looks up every function in its list, so that one
 * missing is found at once, not when first called; and TABLE_loaded(),
 * which runs the loader once and says whether it succeeded.
 */
#define LOOKUP(ret, name, params, args, fail) \
	ok = ok && lazy_sym(lib, handle, #name, (void **)&fn->name);
#define LOOKUP_V(name, params, args) LOOKUP(void, name, params, args, 0)
#define LOOKUP_P(name) LOOKUP(void, name, (), (), 0)
#define LOADER(id, list, table) \
	static void load_##table(void) \
	{ \
		struct lazy_lib *lib = &libs[id]; \
		__typeof__(table) *fn = &table; \
		void *handle; \
		bool ok = lazy_open(lib, &handle); \
		list(LOOKUP, LOOKUP, LOOKUP_V, LOOKUP_P) \
		__atomic_store_n(&lib->loaded, ok, __ATOMIC_RELEASE); \
	} \
	static bool table##_loaded(void) \
	{ \
		pthread_once(&libs[id].once, load_##table); \
		return is_loaded(id); \
	}
LOADER(CO_LAZY_CURL, CURL_FUNCS, curl_fn)
LOADER(CO_LAZY_ARCHIVE, ARCHIVE_FUNCS, archive_fn)
LOADER(CO_LAZY_AVRO, AVRO_FUNCS, avro_fn)

int co_lazy_need(struct co_ctx *ctx, enum co_lazy_lib id)
{
	static bool (*const loaded[])(void) = {
		[CO_LAZY_CURL] = curl_fn_loaded,
		[CO_LAZY_ARCHIVE] = archive_fn_loaded,
		[CO_LAZY_AVRO] = avro_fn_loaded,
	};

	if (loaded[id]())
		return CO_OK;
	return co_err(ctx, CO_ESOFTWARE, "cannot load %s: %s", libs[id].soname, libs[id].error);
}

/* The forwarders, each under the name its header declares. */
#define FORWARD_F(loader, table, ret, name, params, args, fail) \
	ret name params { return loader() ? table.name args : fail; }
#define FORWARD_D(id, table, ret, name, params, args, fail) \
	ret name params { return is_loaded(id) ? table.name args : fail; }
#define FORWARD_V(id, table, name, params, args) \
	void name params { if (is_loaded(id)) table.name args; }
#define NONE(name)
#define CURL_F(...) FORWARD_F(curl_fn_loaded, curl_fn, __VA_ARGS__)
#define CURL_D(...) FORWARD_D(CO_LAZY_CURL, curl_fn, __VA_ARGS__)
#define CURL_V(...) FORWARD_V(CO_LAZY_CURL, curl_fn, __VA_ARGS__)
#define ARCHIVE_F(...) FORWARD_F(archive_fn_loaded, archive_fn, __VA_ARGS__)
#define ARCHIVE_D(...) FORWARD_D(CO_LAZY_ARCHIVE, archive_fn, __VA_ARGS__)
#define ARCHIVE_V(...) FORWARD_V(CO_LAZY_ARCHIVE, archive_fn, __VA_ARGS__)
#define AVRO_F(...) FORWARD_F(avro_fn_loaded, avro_fn, __VA_ARGS__)
#define AVRO_D(...) FORWARD_D(CO_LAZY_AVRO, avro_fn, __VA_ARGS__)
#define AVRO_V(...) FORWARD_V(CO_LAZY_AVRO, avro_fn, __VA_ARGS__)
CURL_FUNCS(CURL_F, CURL_D, CURL_V, NONE)
ARCHIVE_FUNCS(ARCHIVE_F, ARCHIVE_D, ARCHIVE_V, NONE)
AVRO_FUNCS(AVRO_F, AVRO_D, AVRO_V, NONE)

/*
 * curl_easy_setopt() and curl_easy_getinfo() take one argument after the
 * option, whose type the option's number range gives (curl.h's
 * CURLOPTTYPE_*; every CURLINFO takes a pointer). The parentheses keep
 * curl's type-checking macros of the same names out of the definitions;
 * the callers still get them.
 */
CURLcode (curl_easy_setopt)(CURL *h, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	if (!curl_fn_loaded())
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = (curl_fn.curl_easy_setopt)(h, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_OFF_T + 10000)
		rc = (curl_fn.curl_easy_setopt)(h, option, va_arg(ap, curl_off_t));
	else	/* objects, functions and blobs: all pointers */
		rc = (curl_fn.curl_easy_setopt)(h, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode (curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!curl_fn_loaded())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = (curl_fn.curl_easy_getinfo)(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}
