! heat_f: the 2-D heat equation of examples/heat2d in Fortran, over strata's Fortran module
! (strata_f, src/fortran/strata.f90). Rows split over the ranks, halos exchanged with MPI_Sendrecv;
! the field and the step counter are protected and checkpointed when the trigger says (configuration
! file, STRATA_* environment). Kill it (--crash-at-step) and run the same command again: it resumes
! and prints the checksum of an uninterrupted run.
!
! usage: heat_f [--n N] [--steps S] [--dir DIR] [--config FILE] [--crash-at-step K] [--crash-rank R]
program heat_f
  use mpi
  use strata_f
  use iso_c_binding, only: c_int, c_int64_t
  implicit none
  interface
    integer(c_int) function c_raise(sig) bind(c, name="raise")
      import :: c_int
      integer(c_int), value :: sig
    end function
  end interface
  integer :: rank, size, ierr, code, i, j, up, down, argc, k, r
  integer :: n = 96, crash_rank = 0
  integer(c_int64_t) :: steps = 60, crash_at_step = -1, step(1), version
  integer :: rows, first_row, base, extra
  character(len=1024) :: dir = "heat_f_ckpt", config = "", arg, val
  real(8), allocatable :: u(:, :), next(:, :), global(:)
  integer, allocatable :: counts(:), displs(:)
  type(strata_handle) :: ckpt
  logical :: resumed, stop_now
  integer(8) :: h
  character(len=16) :: hex

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, size, ierr)
  argc = command_argument_count()
  k = 1
  do while (k < argc)
    call get_command_argument(k, arg)
    call get_command_argument(k + 1, val)
    select case (trim(arg))
    case ("--n"); read (val, *) n
    case ("--steps"); read (val, *) steps
    case ("--crash-at-step"); read (val, *) crash_at_step
    case ("--crash-rank"); read (val, *) crash_rank
    case ("--dir"); dir = val
    case ("--config"); config = val
    case default
      if (rank == 0) write (0, '(a)') "heat_f: unknown option " // trim(arg)
      call MPI_Finalize(ierr)
      stop 2
    end select
    k = k + 2
  end do

  base = n / size
  extra = mod(n, size)
  rows = base
  if (rank < extra) rows = rows + 1
  first_row = rank * base + min(rank, extra)
  ! u(j, i): column j = 1..n, local row i = 0..rows+1 (0 and rows+1: halos); Fortran is column-major,
  ! so a row of the grid is contiguous.
  allocate(u(n, 0:rows + 1), next(n, 0:rows + 1))
  u = 0
  do i = 1, rows
    do j = 1, n
      u(j, i) = initial_value(first_row + i - 1, j - 1, n)
    end do
  end do
  step(1) = 0

  if (len_trim(config) > 0) then
    call strata_init(ckpt, MPI_COMM_WORLD, config_file=config, directory=dir)
  else
    call strata_init(ckpt, MPI_COMM_WORLD, directory=dir)
  end if
  call strata_protect(ckpt, "u", u)
  call strata_protect(ckpt, "step", step)
  call strata_restore(ckpt, version, code)
  resumed = code == STRATA_OK
  if (code /= STRATA_OK .and. code /= STRATA_ENONE) then
    write (0, '(a)') "heat_f: " // strata_last_error(ckpt)
    call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
  end if
  if (resumed .and. rank == 0) write (*, '(a, i0, a, i0)') "resumed from version ", version, " at step ", step(1)

  up = rank - 1
  down = rank + 1
  if (rank == 0) up = MPI_PROC_NULL
  if (rank == size - 1) down = MPI_PROC_NULL
  do while (step(1) < steps)
    call MPI_Sendrecv(u(:, 1), n, MPI_DOUBLE_PRECISION, up, 0, u(:, rows + 1), n, MPI_DOUBLE_PRECISION, down, 0, &
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    call MPI_Sendrecv(u(:, rows), n, MPI_DOUBLE_PRECISION, down, 1, u(:, 0), n, MPI_DOUBLE_PRECISION, up, 1, &
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    next = u
    do i = 1, rows
      if (first_row + i - 1 == 0 .or. first_row + i - 1 == n - 1) cycle  ! fixed boundary rows
      do j = 2, n - 1
        next(j, i) = u(j, i) + 0.2d0 * (u(j, i - 1) + u(j, i + 1) + u(j - 1, i) + u(j + 1, i) - 4.0d0 * u(j, i))
      end do
    end do
    u = next  ! u stays the protected buffer
    step(1) = step(1) + 1
    if (.not. resumed .and. step(1) == crash_at_step .and. rank == crash_rank) then
      write (0, '(a, i0, a, i0)') "heat_f: rank ", rank, " killing itself with SIGKILL at step ", step(1)
      flush (0)
      r = c_raise(9_c_int)
    end if
    call strata_step(ckpt, step(1))
    call strata_stop_requested(ckpt, stop_now)
    if (stop_now) then
      if (rank == 0) write (*, '(a, i0)') "heat_f: stopped for pre-emption at step ", step(1)
      call strata_finalize(ckpt)
      call MPI_Finalize(ierr)
      stop
    end if
  end do
  call strata_finalize(ckpt)

  ! Gather the interior rows to rank 0 and hash the global field (rotate-and-xor of the bits).
  allocate(counts(size), displs(size), global(n * n))
  call MPI_Gather(rows * n, 1, MPI_INTEGER, counts, 1, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    displs(1) = 0
    do r = 2, size
      displs(r) = displs(r - 1) + counts(r - 1)
    end do
  end if
  call MPI_Gatherv(u(:, 1:rows), rows * n, MPI_DOUBLE_PRECISION, global, counts, displs, MPI_DOUBLE_PRECISION, 0, &
                   MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    h = 0
    do i = 1, n * n
      h = ieor(ishftc(h, 5), transfer(global(i), h))
    end do
    write (hex, '(z16.16)') h
    do i = 1, 16  ! lower case, as heat2d and heat_c print it
      if (hex(i:i) >= "A" .and. hex(i:i) <= "F") hex(i:i) = achar(iachar(hex(i:i)) + 32)
    end do
    write (*, '(a)') "checksum " // hex
  end if
  call MPI_Finalize(ierr)

contains

  real(8) function initial_value(gi, j, n)
    integer, intent(in) :: gi, j, n
    if (gi == 0) then
      initial_value = 1.0d0  ! hot top edge
    else
      initial_value = 0.25d0 * dble(mod(gi * 7 + j * 13, 17)) / 17.0d0 * (dble(j) / dble(n))
    end if
  end function

end program heat_f
