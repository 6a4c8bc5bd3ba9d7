/* SPDX-License-Identifier: MIT */
/* Entry names of the events dir (co_eventlog_parse_name). */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_eventlog_name id;
	char *name = fuzz_string(data, size);

	if (co_eventlog_parse_name(name, &id) == CO_OK) {
		/* Every part is NUL-terminated inside its array and taken from the name. */
		FUZZ_ASSERT(memchr(id.app_id, '\0', sizeof(id.app_id)));
		FUZZ_ASSERT(memchr(id.attempt, '\0', sizeof(id.attempt)));
		FUZZ_ASSERT(memchr(id.codec, '\0', sizeof(id.codec)));
		FUZZ_ASSERT(*id.app_id && strstr(name, id.app_id));
		FUZZ_ASSERT(!*id.attempt || strstr(name, id.attempt));
		FUZZ_ASSERT(!(id.rolling && (*id.codec || id.in_progress)));
		/* Nothing that could name another directory. */
		FUZZ_ASSERT(!strchr(id.app_id, '/') && !strchr(id.attempt, '/'));
	}
	free(name);
	return 0;
}
