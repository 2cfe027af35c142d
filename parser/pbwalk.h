/*
 * pbwalk: the child messages of a libpg_query protobuf message, found through protobuf-c's
 * reflection (each message knows its fields), for walkers that look for one kind of node
 * anywhere in a tree. Private to parser/: it includes pg_query's protobuf header.
 */
#ifndef PGSIFT_PARSER_PBWALK_H
#define PGSIFT_PARSER_PBWALK_H

#include <pg_query/pg_query.pb-c.h>
#include <stddef.h>

/* Calls fn(child, arg) for every message-typed field of m that is set: each element of a
 * repeated field, the one member of a oneof that is in use, and plain message fields. */
static inline void pbwalk_children(const ProtobufCMessage *m,
				   void (*fn)(const ProtobufCMessage *child, void *arg), void *arg)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v =
				*(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (v[k])
					fn(v[k], arg);
		} else {
			const ProtobufCMessage *c =
				*(const ProtobufCMessage *const *)(const void *)(base + f->offset);
			if (c)
				fn(c, arg);
		}
	}
}

#endif
