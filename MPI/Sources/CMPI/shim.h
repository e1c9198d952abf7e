/* shim.h - Open MPI for Swift. mpi.h imports as is, except its predefined
 * handles: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... are macros that cast the
 * address of a library global, which Swift's importer does not bring over.
 * These static inline functions return them (swift-nio's C-shim style). */
#ifndef LOSSKIT_CMPI_SHIM_H
#define LOSSKIT_CMPI_SHIM_H

#include <mpi.h>

static inline MPI_Comm lk_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype lk_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype lk_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype lk_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype lk_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op lk_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler lk_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int lk_mpi_success(void) { return MPI_SUCCESS; }
static inline int lk_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

#endif
