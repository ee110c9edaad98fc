#ifndef COPENBLAS_H
#define COPENBLAS_H
#include <cblas.h>
// OpenBLAS-specific thread control, declared in OpenBLAS's cblas.h.
#endif
