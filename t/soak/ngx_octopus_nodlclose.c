/*
 * make lsan: preloaded after libasan into every nginx process so that
 * dlclose() keeps the modules mapped.  nginx unloads the dynamic modules
 * when a process destroys its cycle pool on exit, before LeakSanitizer
 * runs; a leak allocated by a module would then show its frames as
 * "<unknown module>" instead of function, file and line.
 */

#include <dlfcn.h>


int
dlclose(void *handle)
{
    (void) handle;

    return 0;
}
