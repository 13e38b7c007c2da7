"""Who may use the panel and the API: roles, users and sessions (`identity`) and the local users
file with its passwords and lockout (`users_file`)."""
