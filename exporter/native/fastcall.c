/* _fastcall: the per-call path of exporter.native.library.NativeModel in C.
 *
 * A Caller wraps one loaded model's `int run(ctx, const void* const* inputs, void* const* outputs)`. Called
 * with a tuple of arrays, it checks them against the input shapes it was last given (set_shapes), allocates
 * fresh output arrays, runs the model on their buffers with the GIL released and returns the list of outputs.
 * Anything it does not handle (a list, another dtype or shape, a non-contiguous or unaligned array, a
 * subclass, no shapes set yet) returns None: the Python path then coerces, checks and reports errors with
 * its own messages, tells the model the new shapes and calls set_shapes again.
 *
 * One module serves every model: it is compiled once per Python ABI, NumPy and compiler (library.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

typedef int (*run_fn)(void *ctx, const void *const *inputs, void *const *outputs);
typedef const char *(*last_error_fn)(const void *ctx);

/* pointer arrays of up to this many inputs/outputs live on the stack; more are allocated per call (the run
 * reads them with the GIL released, so they cannot be shared by concurrent calls) */
#define STACK_IO 16

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    run_fn run;              /* NULL once closed: every call then returns None */
    last_error_fn last_error;
    void *ctx;
    PyObject *error_class;
    Py_ssize_t n_in, n_out;
    int *in_types;           /* NumPy type number of each input */
    PyArray_Descr **out_descrs;
    int *in_ranks, *out_ranks;
    npy_intp *in_dims, *out_dims;  /* the shapes from set_shapes, one after another */
    char armed;              /* set_shapes gave the shapes the model is prepared for */
    Py_ssize_t calls;        /* calls that ran here (the Python path's runs are not counted) */
} Caller;

static Py_ssize_t total_rank(const int *ranks, Py_ssize_t n) {
    Py_ssize_t total = 0;
    for (Py_ssize_t k = 0; k < n; ++k) total += ranks[k];
    return total;
}

static PyObject *caller_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Caller *self = (Caller *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Caller takes one tuple of arrays");
        return NULL;
    }
    PyObject *arrays = args[0];
    if (!PyTuple_Check(arrays)) {
        PyErr_SetString(PyExc_TypeError, "Caller takes one tuple of arrays");
        return NULL;
    }
    const Py_ssize_t n_in = self->n_in, n_out = self->n_out;
    if (!self->armed || !self->run || PyTuple_GET_SIZE(arrays) != n_in) Py_RETURN_NONE;

    const void *in_stack[STACK_IO];
    void *out_stack[STACK_IO];
    const void **in_ptrs = in_stack;
    void **out_ptrs = out_stack;
    const npy_intp *dims = self->in_dims;
    for (Py_ssize_t k = 0; k < n_in; ++k) {
        PyObject *item = PyTuple_GET_ITEM(arrays, k);
        if (!PyArray_CheckExact(item)) Py_RETURN_NONE;
        PyArrayObject *a = (PyArrayObject *)item;
        const PyArray_Descr *descr = PyArray_DESCR(a);
        const int rank = self->in_ranks[k];
        if (descr->type_num != self->in_types[k] || !PyArray_ISNBO(descr->byteorder) ||
            !PyArray_CHKFLAGS(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED) || PyArray_NDIM(a) != rank)
            Py_RETURN_NONE;
        const npy_intp *shape = PyArray_DIMS(a);
        for (int d = 0; d < rank; ++d)
            if (shape[d] != dims[d]) Py_RETURN_NONE;
        dims += rank;
    }

    PyObject *outputs = PyList_New(n_out);
    if (!outputs) return NULL;
    if (n_in > STACK_IO || n_out > STACK_IO) {
        in_ptrs = PyMem_Malloc(sizeof(void *) * (size_t)(n_in > 0 ? n_in : 1));
        out_ptrs = PyMem_Malloc(sizeof(void *) * (size_t)(n_out > 0 ? n_out : 1));
        if (!in_ptrs || !out_ptrs) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    for (Py_ssize_t k = 0; k < n_in; ++k) in_ptrs[k] = PyArray_DATA((PyArrayObject *)PyTuple_GET_ITEM(arrays, k));
    dims = self->out_dims;
    for (Py_ssize_t k = 0; k < n_out; ++k) {
        /* a new array per call: results the caller holds are never written again */
        PyArray_Descr *descr = self->out_descrs[k];
        Py_INCREF(descr);  /* NewFromDescr steals it */
        PyObject *o = PyArray_NewFromDescr(&PyArray_Type, descr, self->out_ranks[k], (npy_intp *)dims, NULL, NULL,
                                           0, NULL);
        if (!o) goto fail;
        PyList_SET_ITEM(outputs, k, o);
        out_ptrs[k] = PyArray_DATA((PyArrayObject *)o);
        dims += self->out_ranks[k];
    }

    int rc;
    /* the arrays stay alive: `arrays` is held by our caller, the outputs by the list */
    Py_BEGIN_ALLOW_THREADS
    rc = self->run(self->ctx, (const void *const *)in_ptrs, (void *const *)out_ptrs);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        const char *why = self->last_error(self->ctx);
        PyObject *message = PyUnicode_FromString(why ? why : "the model's run failed");
        if (message) {
            PyErr_SetObject(self->error_class, message);
            Py_DECREF(message);
        }
        goto fail;
    }
    self->calls++;
    if (in_ptrs != in_stack) {
        PyMem_Free((void *)in_ptrs);
        PyMem_Free(out_ptrs);
    }
    return outputs;

fail:
    if (in_ptrs != in_stack) {
        PyMem_Free((void *)in_ptrs);
        PyMem_Free(out_ptrs);
    }
    Py_DECREF(outputs);
    return NULL;
}

/* Reads (dtype, rank) pairs into new arrays; returns the count, or -1 with an exception set (and nothing
 * allocated). */
static Py_ssize_t read_specs(PyObject *specs, const char *what, PyArray_Descr ***descrs_out, int **ranks_out) {
    PyObject *seq = PySequence_Fast(specs, what);
    if (!seq) return -1;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyArray_Descr **descrs = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof(PyArray_Descr *));
    int *ranks = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof(int));
    if (!descrs || !ranks) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t k = 0; k < n; ++k) {
        PyObject *dtype, *rank;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, k), "OO", &dtype, &rank) ||
            !PyArray_DescrConverter(dtype, &descrs[k]))
            goto fail;
        const long r = PyLong_AsLong(rank);
        if (r == -1 && PyErr_Occurred()) goto fail;
        if (r < 0 || r > NPY_MAXDIMS) {
            PyErr_Format(PyExc_ValueError, "%s %zd: rank %ld is out of range", what, k, r);
            goto fail;
        }
        ranks[k] = (int)r;
    }
    Py_DECREF(seq);
    *descrs_out = descrs;
    *ranks_out = ranks;
    return n;

fail:
    for (Py_ssize_t k = 0; descrs && k < n; ++k) Py_XDECREF(descrs[k]);
    PyMem_Free(descrs);
    PyMem_Free(ranks);
    Py_DECREF(seq);
    return -1;
}

static int caller_init(Caller *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"run", "ctx", "last_error", "inputs", "outputs", "error_class", NULL};
    unsigned long long run, ctx, last_error;
    PyObject *inputs, *outputs, *error_class;
    if (self->in_ranks || self->out_ranks) {
        PyErr_SetString(PyExc_TypeError, "a Caller is initialized once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "KKKOOO", names, &run, &ctx, &last_error, &inputs, &outputs,
                                     &error_class))
        return -1;
    if (!run || !last_error) {
        PyErr_SetString(PyExc_ValueError, "run and last_error must be function addresses");
        return -1;
    }
    if (!PyExceptionClass_Check(error_class)) {
        PyErr_SetString(PyExc_TypeError, "error_class must be an exception class");
        return -1;
    }
    PyArray_Descr **in_descrs = NULL;
    const Py_ssize_t n_in = read_specs(inputs, "inputs", &in_descrs, &self->in_ranks);
    if (n_in < 0) return -1;
    self->n_in = n_in;
    /* inputs are compared by type number and byte order only: enough for the model's dtypes, not for types
     * a number does not fix (strings, records, datetimes with their units), which never match (-1) */
    self->in_types = PyMem_Calloc((size_t)(n_in > 0 ? n_in : 1), sizeof(int));
    for (Py_ssize_t k = 0; k < n_in; ++k) {
        const int type = in_descrs[k]->type_num;
        const int fixed = !PyTypeNum_ISFLEXIBLE(type) && !PyTypeNum_ISDATETIME(type) && type != NPY_OBJECT;
        if (self->in_types) self->in_types[k] = fixed ? type : -1;
        Py_DECREF(in_descrs[k]);
    }
    PyMem_Free(in_descrs);
    if (!self->in_types) {
        PyErr_NoMemory();
        return -1;
    }
    const Py_ssize_t n_out = read_specs(outputs, "outputs", &self->out_descrs, &self->out_ranks);
    if (n_out < 0) return -1;
    self->n_out = n_out;
    self->in_dims = PyMem_Calloc((size_t)total_rank(self->in_ranks, self->n_in) + 1, sizeof(npy_intp));
    self->out_dims = PyMem_Calloc((size_t)total_rank(self->out_ranks, self->n_out) + 1, sizeof(npy_intp));
    if (!self->in_dims || !self->out_dims) {
        PyErr_NoMemory();
        return -1;
    }
    self->run = (run_fn)(uintptr_t)run;
    self->last_error = (last_error_fn)(uintptr_t)last_error;
    self->ctx = (void *)(uintptr_t)ctx;
    Py_INCREF(error_class);
    self->error_class = error_class;
    self->vectorcall = caller_vectorcall;
    return 0;
}

static void caller_dealloc(Caller *self) {
    if (self->out_descrs)
        for (Py_ssize_t k = 0; k < self->n_out; ++k) Py_XDECREF(self->out_descrs[k]);
    PyMem_Free(self->out_descrs);
    PyMem_Free(self->in_types);
    PyMem_Free(self->in_ranks);
    PyMem_Free(self->out_ranks);
    PyMem_Free(self->in_dims);
    PyMem_Free(self->out_dims);
    Py_XDECREF(self->error_class);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Copies one tuple of int tuples into dims (ranks as given at construction); 0, or -1 with an exception. */
static int read_shapes(PyObject *shapes, const char *what, Py_ssize_t n, const int *ranks, npy_intp *dims) {
    PyObject *seq = PySequence_Fast(shapes, what);
    if (!seq) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_Format(PyExc_ValueError, "%zd %s shapes for %zd %s", PySequence_Fast_GET_SIZE(seq), what, n, what);
        Py_DECREF(seq);
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; ++k) {
        PyObject *shape = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, k), what);
        if (!shape) {
            Py_DECREF(seq);
            return -1;
        }
        if (PySequence_Fast_GET_SIZE(shape) != ranks[k]) {
            PyErr_Format(PyExc_ValueError, "%s %zd: a shape of rank %zd for rank %d", what, k,
                         PySequence_Fast_GET_SIZE(shape), ranks[k]);
            Py_DECREF(shape);
            Py_DECREF(seq);
            return -1;
        }
        for (int d = 0; d < ranks[k]; ++d) {
            const Py_ssize_t size = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(shape, d));
            if (size < 0) {
                if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "%s %zd: negative size", what, k);
                Py_DECREF(shape);
                Py_DECREF(seq);
                return -1;
            }
            *dims++ = (npy_intp)size;
        }
        Py_DECREF(shape);
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *caller_set_shapes(Caller *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_shapes(input_shapes, output_shapes), or (None, None) to disarm");
        return NULL;
    }
    /* disarmed while the model's shapes change: a failure below (or in the caller's preparation) leaves it so */
    self->armed = 0;
    if (args[0] == Py_None && args[1] == Py_None) Py_RETURN_NONE;
    if (read_shapes(args[0], "input", self->n_in, self->in_ranks, self->in_dims) != 0 ||
        read_shapes(args[1], "output", self->n_out, self->out_ranks, self->out_dims) != 0)
        return NULL;
    self->armed = self->run != NULL;
    Py_RETURN_NONE;
}

static PyObject *caller_close(Caller *self, PyObject *Py_UNUSED(ignored)) {
    self->run = NULL;  /* the context is about to be destroyed */
    self->armed = 0;
    Py_RETURN_NONE;
}

static PyMethodDef caller_methods[] = {
    {"set_shapes", (PyCFunction)(void (*)(void))caller_set_shapes, METH_FASTCALL,
     "set_shapes(input_shapes, output_shapes): the shapes the model is prepared for (tuples of int tuples); "
     "calls with inputs of exactly these shapes run here. set_shapes(None, None) disarms."},
    {"close", (PyCFunction)caller_close, METH_NOARGS, "Stop calling the model (its context is going away)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef caller_members[] = {
    {"armed", T_BOOL, offsetof(Caller, armed), READONLY, "Whether shapes are set (calls can run here)."},
    {"calls", T_PYSSIZET, offsetof(Caller, calls), READONLY, "How many calls ran here."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CallerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "exporter.native._fastcall.Caller",
    .tp_basicsize = sizeof(Caller),
    .tp_dealloc = (destructor)caller_dealloc,
    .tp_vectorcall_offset = offsetof(Caller, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Caller(run, ctx, last_error, inputs, outputs, error_class): calls a model's run function "
              "(addresses as ints; inputs/outputs are (dtype, rank) pairs). caller(arrays) returns the list of "
              "outputs, or None where the Python path must handle the call.",
    .tp_methods = caller_methods,
    .tp_members = caller_members,
    .tp_init = (initproc)caller_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef fastcall_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fastcall",
    .m_doc = "The per-call path of exporter's in-process native models.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastcall(void) {
    import_array();
    if (PyType_Ready(&CallerType) < 0) return NULL;
    PyObject *module = PyModule_Create(&fastcall_module);
    if (!module) return NULL;
    Py_INCREF(&CallerType);
    if (PyModule_AddObject(module, "Caller", (PyObject *)&CallerType) < 0) {
        Py_DECREF(&CallerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
