# Sourced by the image's start.sh before the single-user server starts (Jupyter Docker Stacks' before-notebook.d).

# The nbexchange plugin sends $NAAS_JWT to the exchange; the exchange asks the hub whose token it is
# (deploy/nbexchange/calcml_user_handler.py). This server's own hub token is the one to send.
export NAAS_JWT="${JUPYTERHUB_API_TOKEN:-}"

# The course pages and notebooks to read, in ~/calcml (the home is a volume that hides the image's files; copies
# already there are the learner's and are kept). Graded work is fetched from the Assignment List instead.
mkdir -p "${HOME}/calcml" && cp -rn /srv/calcml/. "${HOME}/calcml/" 2>/dev/null || true

# Graders (CALCML_ROLE=instructor, set by the hub from the formgrade-calcml group) get formgrader and
# create-assignment back in their own settings; for anyone else, those settings are removed if this script wrote them.
for file in jupyter_server_config.json labconfig/page_config.json; do
    if [ "${CALCML_ROLE:-student}" = "instructor" ]; then
        mkdir -p "$(dirname "${HOME}/.jupyter/${file}")"
        cp "/usr/local/share/calcml/instructor/${file}" "${HOME}/.jupyter/${file}"
    elif cmp -s "/usr/local/share/calcml/instructor/${file}" "${HOME}/.jupyter/${file}"; then
        rm -f "${HOME}/.jupyter/${file}"
    fi
done
