! Uses strata's Fortran module (strata::fortran, strata_f.mod) through find_package(strata), or built
! by hand with mpifort (tests/consumer_test/consumer_test.sh): arrays of rank 2 and 3 checkpointed,
! restored by a second handle; a non-contiguous section and a call on an uninitialised handle give
! STRATA_EUSAGE through ierr.
program consumer_f
  use mpi
  use strata_f
  use iso_c_binding, only: c_int64_t
  implicit none
  type(strata_handle) :: h, never
  real(8) :: a(4, 3), a_back(4, 3)
  integer(4) :: b(2, 2, 2), b_back(2, 2, 2)
  integer(c_int64_t) :: v
  integer :: ierr, rank, code, section_code
  character(len=256) :: dir
  logical :: ok
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call get_command_argument(1, dir)
  call random_number(a)
  b = rank + 7
  a_back = -1
  b_back = -1
  call strata_init(h, MPI_COMM_WORLD, directory=dir)
  call strata_protect(h, "a", a)
  call strata_protect(h, "b", b)
  call strata_checkpoint(h, v)
  call strata_finalize(h)
  call strata_init(h, MPI_COMM_WORLD, directory=dir)
  call strata_protect(h, "a", a_back)
  call strata_protect(h, "b", b_back)
  call strata_restore(h, v)
  call strata_protect(h, "section", a(1:4:2, :), section_code)  ! not contiguous: refused
  call strata_finalize(h)
  call strata_protect(never, "x", a, code)
  ok = all(transfer(a_back, 1_8, 12) == transfer(a, 1_8, 12)) .and. all(b_back == b) .and. v == 1 .and. &
       code == STRATA_EUSAGE .and. &
       index(strata_last_error(), "handle is NULL") > 0 .and. section_code == STRATA_EUSAGE
  if (.not. ok) write (0, '(a, i0, a)') "consumer_f: rank ", rank, ": " // strata_last_error()
  if (rank == 0) write (*, '(a, l1)') "consumer_f ok: ", ok
  call MPI_Finalize(ierr)
  if (.not. ok) error stop 1
end program consumer_f
