/* The state machines this build ships, by name (the server's "fsm =" setting). */
#include <string.h>

#include "luminous/kv.h"

const struct lum_fsm_ops *lum_fsm_find(const char *name)
{
    static const struct lum_fsm_ops *const machines[] = {&kv_fsm_ops, &counter_fsm_ops};
    for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++)
        if (name && strcmp(machines[i]->name, name) == 0)
            return machines[i];
    return NULL;
}
