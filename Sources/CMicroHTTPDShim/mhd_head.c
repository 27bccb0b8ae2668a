/*
 * Header values libmicrohttpd 0.9.75 cut at a NUL, and folded header lines.
 *
 * How 0.9.75 lays a request head out (connection.c, get_next_header_line,
 * process_header_line, process_broken_line; measured against Debian's
 * 0.9.75-6): the head is parsed in place in the connection's read buffer.
 * Each line end is overwritten with NULs, one for a bare LF, two for CRLF
 * (a bare CR does not end a line). The colon after a name becomes a NUL, the
 * value starts after the SP/HTAB that follow it, and its length is strlen()
 * of the rest: trailing whitespace stays in the value, and a NUL inside it
 * cuts it short. The request line starts the head (the method pointer the
 * access handler gets; empty lines before it are skipped and not counted),
 * and MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE is the head's raw size, up to
 * and including the empty line that ends it. Headers are listed in the order
 * they were read, and while no line is folded the read buffer grows in place,
 * so each header lies in the head, after the previous one.
 *
 * So between the end of a value as handed out and the start of the next
 * line there are exactly the one or two NULs of the line end; after the last
 * header, its line end and the empty line's (two to four NULs) up to the end
 * of the head. Any other byte there, or more NULs, is what was left of a
 * value after a NUL. What cannot be told apart: a value ending in one NUL on
 * a bare-LF line reads as a CRLF line (the value handed out is then all the
 * bytes before the NUL, and nothing follows it).
 *
 * A folded line (obs-fold, RFC 9112 section 5.2) is mangled: 0.9.75 appends
 * the continuation to the header's name, in a block of the pool outside the
 * head ("X-Foo: bar\r\n baz" becomes "X-Foobaz: bar"). A name outside the head
 * is how it shows.
 */
#include "mhd_shim.h"

struct head_scan {
  const char *start;          /* the head: [start, end) */
  const char *end;
  const char *prev_key;       /* the previous header, NULL before the first */
  size_t prev_key_size;
  const char *prev_end;       /* the end of its value */
  enum mhd_shim_head_fault fault;
  const char *bad_key;
  size_t bad_key_size;
};

/* True if [from, to) is min..max bytes, all NUL. */
static int
only_line_ends (const char *from, const char *to, size_t min, size_t max)
{
  if ( (to < from) || ((size_t) (to - from) < min) || ((size_t) (to - from) > max) )
    return 0;
  for (; from < to; from++)
    if ('\0' != *from)
      return 0;
  return 1;
}

static enum MHD_Result
scan_header (void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
             const char *value, size_t value_size)
{
  struct head_scan *s = cls;
  (void) kind;
  /* A name or value outside the head: a folded line's name, moved to a new
     block of the pool (nothing outside the head is read). */
  if ( (NULL == key) || (NULL == value) ||
       (key < s->start) || (key > s->end) || (key_size > (size_t) (s->end - key)) ||
       (value < s->start) || (value > s->end) || (value_size > (size_t) (s->end - value)) )
  {
    s->fault = MHD_SHIM_HEAD_FOLDED;
    return MHD_NO;
  }
  if ( (NULL != s->prev_end) && (! only_line_ends (s->prev_end, key, 1, 2)) )
  {
    s->fault = MHD_SHIM_HEAD_NUL;
    s->bad_key = s->prev_key;
    s->bad_key_size = s->prev_key_size;
    return MHD_NO;
  }
  s->prev_key = key;
  s->prev_key_size = key_size;
  s->prev_end = value + value_size;
  return MHD_YES;
}

enum mhd_shim_head_fault
mhd_shim_request_head_fault (struct MHD_Connection *connection, const char *method,
                             const char **name, size_t *name_size)
{
  struct head_scan s;
  const union MHD_ConnectionInfo *info =
    MHD_get_connection_info (connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

  *name = NULL;
  *name_size = 0;
  if ( (NULL == info) || (NULL == method) )
    return MHD_SHIM_HEAD_OK;
  s.start = method;
  s.end = method + info->header_size;
  s.prev_key = NULL;
  s.prev_key_size = 0;
  s.prev_end = NULL;
  s.fault = MHD_SHIM_HEAD_OK;
  s.bad_key = NULL;
  s.bad_key_size = 0;
  (void) MHD_get_connection_values_n (connection, MHD_HEADER_KIND, scan_header, &s);
  if ( (MHD_SHIM_HEAD_OK == s.fault) && (NULL != s.prev_end) &&
       (! only_line_ends (s.prev_end, s.end, 2, 4)) )
  {
    s.fault = MHD_SHIM_HEAD_NUL;
    s.bad_key = s.prev_key;
    s.bad_key_size = s.prev_key_size;
  }
  *name = s.bad_key;
  *name_size = s.bad_key_size;
  return s.fault;
}
