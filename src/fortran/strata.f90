! strata_f: Fortran interface to strata's C API (include/strata/c/strata.h) through iso_c_binding.
! Every routine takes an optional ierr (STRATA_OK or a code): without it, a failure prints
! strata's message and stops the program (error stop), as MPI does with its default handler.
!
!   use strata_f
!   type(strata_handle) :: h
!   call strata_init(h, MPI_COMM_WORLD, directory="ckpt")
!   call strata_protect(h, "u", u)          ! integer(4/8), real(4/8) arrays of any rank, or scalars
!   call strata_restore(h, version, ierr)   ! ierr = STRATA_ENONE: nothing to resume
!   do while (step < steps) ... call strata_step(h, step) ... end do
!   call strata_finalize(h)
module strata_f
  use iso_c_binding
  implicit none
  private

  integer, parameter, public :: STRATA_OK = 0, STRATA_ENONE = 1, STRATA_EUSAGE = 2, STRATA_ECHECKPOINT = 3, &
                                STRATA_ERESTORE = 4, STRATA_ECOMM = 5, STRATA_ENOMEM = 6, STRATA_EFAIL = 7

  !> A checkpointer (strata_ckpt* of the C API); null before strata_init and after strata_finalize.
  type, public :: strata_handle
    type(c_ptr) :: p = c_null_ptr
  end type

  public :: strata_init, strata_finalize, strata_protect, strata_checkpoint, strata_step, strata_restore, strata_restore_version, &
            strata_stop_requested, strata_last_error

  interface strata_protect
    module procedure protect_i4, protect_i8, protect_r4, protect_r8
  end interface

  interface
    integer(c_int) function c_init(out, comm, config, dir) bind(c, name="strata_init_f")
      import :: c_ptr, c_int
      type(c_ptr), intent(inout) :: out
      integer(c_int), value :: comm
      type(c_ptr), value :: config, dir
    end function
    integer(c_int) function c_finalize(h) bind(c, name="strata_finalize")
      import :: c_ptr, c_int
      type(c_ptr), intent(inout) :: h
    end function
    integer(c_int) function c_protect(h, name, data, type, count) bind(c, name="strata_protect")
      import :: c_ptr, c_int, c_char, c_int64_t
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: data
      integer(c_int), value :: type
      integer(c_int64_t), value :: count
    end function
    integer(c_int) function c_checkpoint(h, version) bind(c, name="strata_checkpoint")
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: h
      integer(c_int64_t), intent(out) :: version
    end function
    integer(c_int) function c_step(h, step, taken) bind(c, name="strata_step")
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: h
      integer(c_int64_t), value :: step
      integer(c_int), intent(out) :: taken
    end function
    integer(c_int) function c_stop_requested(h, stop) bind(c, name="strata_stop_requested")
      import :: c_ptr, c_int
      type(c_ptr), value :: h
      integer(c_int), intent(out) :: stop
    end function
    integer(c_int) function c_restore_latest(h, version) bind(c, name="strata_restore_latest")
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: h
      integer(c_int64_t), intent(out) :: version
    end function
    integer(c_int) function c_restore(h, version) bind(c, name="strata_restore")
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: h
      integer(c_int64_t), value :: version
    end function
    type(c_ptr) function c_last_error(h) bind(c, name="strata_last_error")
      import :: c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_size_t) function c_strlen(s) bind(c, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
    end function
  end interface

contains

  !> The text of the last failure on h (h not initialised: this thread's last failure).
  function strata_last_error(h) result(text)
    type(strata_handle), intent(in), optional :: h
    character(len=:), allocatable :: text
    type(c_ptr) :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (present(h)) then
      s = c_last_error(h%p)
    else
      s = c_last_error(c_null_ptr)
    end if
    n = int(c_strlen(s))
    call c_f_pointer(s, chars, [n])
    allocate(character(len=n) :: text)
    do i = 1, n
      text(i:i) = chars(i)
    end do
  end function

  !> Hands `code` to ierr, or stops with strata's message when ierr is absent and the call failed
  !> (`none_ok`: STRATA_ENONE is not a failure here).
  subroutine finish(code, h, ierr, none_ok)
    integer(c_int), intent(in) :: code
    type(c_ptr), intent(in) :: h
    integer, intent(out), optional :: ierr
    logical, intent(in) :: none_ok
    type(strata_handle) :: w
    if (present(ierr)) then
      ierr = int(code)
      return
    end if
    if (code == STRATA_OK .or. (none_ok .and. code == STRATA_ENONE)) return
    w%p = h
    if (c_associated(h)) then
      write (0, '(a)') "strata: " // strata_last_error(w)
    else
      write (0, '(a)') "strata: " // strata_last_error()
    end if
    error stop 1
  end subroutine

  function c_string(s) result(c)
    character(len=*), intent(in) :: s
    character(kind=c_char, len=:), allocatable, target :: c
    c = trim(s) // c_null_char
  end function

  !> Collective: a checkpointer over `comm` (an MPI communicator handle, as from `use mpi`).
  subroutine strata_init(h, comm, config_file, directory, ierr)
    type(strata_handle), intent(inout) :: h
    integer, intent(in) :: comm
    character(len=*), intent(in), optional :: config_file, directory
    integer, intent(out), optional :: ierr
    character(kind=c_char, len=:), allocatable, target :: cfg, dir
    type(c_ptr) :: pc, pd
    pc = c_null_ptr
    pd = c_null_ptr
    if (present(config_file)) then
      cfg = c_string(config_file)
      pc = c_loc(cfg)
    end if
    if (present(directory)) then
      dir = c_string(directory)
      pd = c_loc(dir)
    end if
    call finish(c_init(h%p, int(comm, c_int), pc, pd), c_null_ptr, ierr, .false.)
  end subroutine

  !> Collective: drains pending work and frees the checkpointer (before MPI_Finalize).
  subroutine strata_finalize(h, ierr)
    type(strata_handle), intent(inout) :: h
    integer, intent(out), optional :: ierr
    call finish(c_finalize(h%p), c_null_ptr, ierr, .false.)
  end subroutine

  subroutine protect_any(h, name, p, type, count, contiguous, ierr)
    type(strata_handle), intent(inout) :: h
    character(len=*), intent(in) :: name
    type(c_ptr), intent(in) :: p
    integer(c_int), intent(in) :: type
    integer(c_int64_t), intent(in) :: count
    logical, intent(in) :: contiguous
    integer, intent(out), optional :: ierr
    if (.not. contiguous) then
      if (present(ierr)) then
        ierr = STRATA_EUSAGE
        return
      end if
      write (0, '(a)') "strata: strata_protect: buffer '" // trim(name) // "' is not contiguous (protect the whole array)"
      error stop 1
    end if
    call finish(c_protect(h%p, c_string(name), p, type, count), h%p, ierr, .false.)
  end subroutine

  subroutine protect_i4(h, name, a, ierr)
    type(strata_handle), intent(inout) :: h
    character(len=*), intent(in) :: name
    integer(c_int32_t), dimension(..), target, intent(inout) :: a
    integer, intent(out), optional :: ierr
    call protect_any(h, name, c_loc(a), 1_c_int, int(size(a), c_int64_t), is_contiguous(a), ierr)
  end subroutine
  subroutine protect_i8(h, name, a, ierr)
    type(strata_handle), intent(inout) :: h
    character(len=*), intent(in) :: name
    integer(c_int64_t), dimension(..), target, intent(inout) :: a
    integer, intent(out), optional :: ierr
    call protect_any(h, name, c_loc(a), 2_c_int, int(size(a), c_int64_t), is_contiguous(a), ierr)
  end subroutine
  subroutine protect_r4(h, name, a, ierr)
    type(strata_handle), intent(inout) :: h
    character(len=*), intent(in) :: name
    real(c_float), dimension(..), target, intent(inout) :: a
    integer, intent(out), optional :: ierr
    call protect_any(h, name, c_loc(a), 3_c_int, int(size(a), c_int64_t), is_contiguous(a), ierr)
  end subroutine
  subroutine protect_r8(h, name, a, ierr)
    type(strata_handle), intent(inout) :: h
    character(len=*), intent(in) :: name
    real(c_double), dimension(..), target, intent(inout) :: a
    integer, intent(out), optional :: ierr
    call protect_any(h, name, c_loc(a), 4_c_int, int(size(a), c_int64_t), is_contiguous(a), ierr)
  end subroutine

  !> Collective: checkpoints now.
  subroutine strata_checkpoint(h, version, ierr)
    type(strata_handle), intent(inout) :: h
    integer(c_int64_t), intent(out), optional :: version
    integer, intent(out), optional :: ierr
    integer(c_int64_t) :: v
    call finish(c_checkpoint(h%p, v), h%p, ierr, .false.)
    if (present(version)) version = v
  end subroutine

  !> Step `step` is complete: the trigger decides (treat as collective).
  subroutine strata_step(h, step, checkpointed, ierr)
    type(strata_handle), intent(inout) :: h
    integer(c_int64_t), intent(in) :: step
    logical, intent(out), optional :: checkpointed
    integer, intent(out), optional :: ierr
    integer(c_int) :: taken
    taken = 0
    call finish(c_step(h%p, step, taken), h%p, ierr, .false.)
    if (present(checkpointed)) checkpointed = taken /= 0
  end subroutine

  !> Whether a pre-emption signal was caught and its checkpoint committed.
  subroutine strata_stop_requested(h, stop, ierr)
    type(strata_handle), intent(in) :: h
    logical, intent(out) :: stop
    integer, intent(out), optional :: ierr
    integer(c_int) :: s
    s = 0
    call finish(c_stop_requested(h%p, s), h%p, ierr, .false.)
    stop = s /= 0
  end subroutine

  !> Collective: restores the newest version; `version` receives it, or -1 with STRATA_ENONE (not
  !> a failure: nothing to resume, the arrays are untouched) when there is none.
  subroutine strata_restore(h, version, ierr)
    type(strata_handle), intent(inout) :: h
    integer(c_int64_t), intent(out), optional :: version
    integer, intent(out), optional :: ierr
    integer(c_int64_t) :: v
    integer(c_int) :: code
    v = -1
    code = c_restore_latest(h%p, v)
    if (code /= STRATA_OK) v = -1
    if (present(version)) version = v
    call finish(code, h%p, ierr, .true.)
  end subroutine

  !> Collective: restores exactly `version` (rolling back).
  subroutine strata_restore_version(h, version, ierr)
    type(strata_handle), intent(inout) :: h
    integer(c_int64_t), intent(in) :: version
    integer, intent(out), optional :: ierr
    call finish(c_restore(h%p, version), h%p, ierr, .false.)
  end subroutine

end module strata_f
